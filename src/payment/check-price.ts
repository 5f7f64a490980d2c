import { Rat } from "../math/rat.js";
import { configuredMaxPrice } from "../pricing/price-limits.js";
import { exceededCeiling, parseMaxPrice } from "../wire/max-price.js";
import { invalidArgument, priceExceeded, unavailable } from "./errors.js";
import { PriceFeedUnavailableError } from "../pricing/price-feed.js";
import type { PaymentDeps, PaymentRequest } from "./generate-payment.js";
import type { Usage } from "./measure-usage.js";
import type { Session } from "./open-session.js";

/**
 * Step 9: the orchestrator's price against every ceiling known before the webhook (configured,
 * request maxPrice, the session's initial price); the lowest one present wins. Returns the price.
 */
export function checkPrice(deps: PaymentDeps, req: PaymentRequest, session: Session, usage: Usage): Rat {
  const { priceInfo, state } = session;
  const orchPrice = new Rat(priceInfo.pricePerUnit, priceInfo.pixelsPerUnit);
  let requestMax: Rat | undefined;
  if (req.maxPrice) {
    const parsed = parseMaxPrice(req.maxPrice, usage.type);
    if (!parsed.ok) throw invalidArgument(parsed.message);
    requestMax = parsed.price;
  }
  let initialMax: Rat | undefined;
  if (session.resumed) {
    if (state.initialPricePerUnit <= 0n || state.initialPixelsPerUnit <= 0n) {
      throw invalidArgument("invalid initial price in state");
    }
    initialMax = new Rat(state.initialPricePerUnit, state.initialPixelsPerUnit);
  }
  let configured: Rat | undefined;
  try {
    configured = configuredMaxPrice(deps.prices, session.capabilities);
  } catch (err) {
    // A USD ceiling with no usable ETH rate: unavailable until the price feed recovers.
    if (err instanceof PriceFeedUnavailableError) throw unavailable(err.message, err);
    throw err;
  }
  const hit = exceededCeiling(orchPrice, [
    { source: "configured maximum price", price: configured },
    { source: "request maxPrice", price: requestMax },
    { source: "initial session price", price: initialMax },
  ]);
  if (hit) throw priceExceeded(hit.source, orchPrice, hit.price);
  return orchPrice;
}
