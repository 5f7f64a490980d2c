import type { Rat } from "../math/rat.js";
import { encodeState, type PaymentState } from "../state/payment-state.js";
import { exceededCeiling, parseMaxPrice } from "../wire/max-price.js";
import type { TicketCount } from "./count-tickets.js";
import { authBadPrice, authRejected, internal, priceExceeded } from "./errors.js";
import type { PaymentDeps, PaymentRequest } from "./generate-payment.js";
import type { WebhookPayment } from "./auth-webhook.js";
import type { Usage } from "./measure-usage.js";
import type { Session } from "./open-session.js";

const NS_PER_SEC = 1_000_000_000n;

/**
 * Steps 13-14: the new state (what the webhook sees), then the auth webhook, skipped while a
 * previous approval is still valid. Returns the state to sign.
 */
export async function authorize(
  deps: PaymentDeps,
  req: PaymentRequest,
  session: Session,
  usage: Usage,
  orchPrice: Rat,
  count: TicketCount,
  now: bigint,
  payment?: () => WebhookPayment,
): Promise<PaymentState> {
  let state: PaymentState = {
    ...session.state,
    balance: count.balance.toString(),
    lastUpdate: now,
    pmSessionId: session.pmSessionId,
    senderNonce: (session.lastNonce + count.numTickets) % 2 ** 32,
  };
  let authId = req.authIdHeader;
  const authStillValid = state.authExpiry !== 0n && now / NS_PER_SEC <= state.authExpiry;
  if (deps.webhook && !authStillValid) {
    const extended = deps.webhook.extended && payment ? payment() : undefined;
    const decision = await deps.webhook.authorize({ headers: req.headers(), stateJson: encodeState(state), ...(extended && { payment: extended }) });
    if (decision.status !== 200) throw authRejected(decision.status, decision.reason);
    state = { ...state, authExpiry: decision.expiry };
    if (decision.maxPrice) {
      const authMax = parseMaxPrice(decision.maxPrice, usage.type);
      if (!authMax.ok) throw authBadPrice(`signer auth invalid maxPrice: ${authMax.message}`);
      const hit = exceededCeiling(orchPrice, [{ source: "auth webhook maxPrice", price: authMax.price }]);
      if (hit) throw priceExceeded(hit.source, orchPrice, hit.price);
    }
    if (decision.authId !== "") authId = decision.authId;
  }
  if (authId !== "" && state.authId !== authId) {
    if (state.authId !== "") throw internal("remote signer auth ID changed");
    state = { ...state, authId };
  }
  return state;
}
