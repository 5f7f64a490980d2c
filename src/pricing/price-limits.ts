import { ConfigError } from "../config/errors.js";
import { readFileSync } from "node:fs";
import type { Capabilities } from "../../gen/net/lp_rpc_pb.js";
import { DecimalSizeError, Rat } from "../math/rat.js";
import { pipelineToCapability } from "./capabilities.js";
import { ceilingInWei, WEI_PER_ETH } from "./usd-conversion.js";

/**
 * One configured ceiling per pixel: in wei (currency "", ETH already multiplied by 10^18 as the
 * reference's NewFixedPrice does), or in a currency such as USD that a price feed converts to
 * wei at payment time (the reference's AutoConvertedPrice).
 */
export interface Ceiling {
  perPixel: Rat;
  /** "" for wei; otherwise upper case, e.g. "USD". */
  currency: string;
}

/** Converts a currency to wei at the current rate; throws (PriceFeedUnavailableError) when no usable rate is known. */
export interface CurrencyRate {
  weiPer(currency: string): Rat;
}

/** The configured price ceilings (the reference's BroadcastConfig). */
export interface PriceLimits {
  /** -maxPricePerUnit / -pixelsPerUnit; undefined when no limit (0). */
  maxPrice: Ceiling | undefined;
  /** capability id → model id ("default" for all models) → ceiling. */
  perCapability: Map<number, Map<string, Ceiling>>;
  /** Converts currency ceilings; absent until the signer's price feed is attached (withRate). */
  rate?: CurrencyRate;
}

export const NO_PRICE_LIMITS: PriceLimits = { maxPrice: undefined, perCapability: new Map() };

export class PriceConfigError extends ConfigError {
  override name = "PriceConfigError";
}

/** Rat.parseBounded for a flag or config value: an oversize one is a PriceConfigError naming it. */
function parseConfigRat(text: string, name: string): Rat | undefined {
  try {
    return Rat.parseBounded(text);
  } catch (err) {
    if (err instanceof DecimalSizeError) throw new PriceConfigError(`${name} ${err.message}`);
    throw err;
  }
}

/** Parses -maxPricePerUnit ("<number>[currency]", e.g. 1200, 1200wei, 0.01USD) as the reference does. */
function parsePricePerUnit(text: string, flag: string): { price: Rat; currency: string } {
  const m = /^(\d+(?:\.\d+)?)([A-Za-z][A-Za-z0-9]*)?$/.exec(text.trim());
  if (!m) throw new PriceConfigError(`${flag} must be a number with an optional currency, got ${JSON.stringify(text)}`);
  return { price: parseConfigRat(m[1]!, flag)!, currency: m[2] ?? "" };
}

/**
 * A price per pixel in `currency` → a Ceiling: wei and ETH are fixed (ETH × 10^18), any other
 * currency is converted by the price feed when a payment is checked.
 */
export function ceilingIn(perPixel: Rat, currency: string): Ceiling {
  const c = currency.toLowerCase();
  if (c === "" || c === "wei") return { perPixel, currency: "" };
  if (c === "eth") return { perPixel: perPixel.mul(WEI_PER_ETH), currency: "" };
  return { perPixel, currency: currency.toUpperCase() };
}

function parseJsonRat(value: unknown, field: string): Rat | undefined {
  if (value === undefined || value === null) return undefined;
  const rat = typeof value === "number" || typeof value === "string" ? parseConfigRat(String(value).trim(), `-maxPricePerCapability: ${field}`) : undefined;
  if (!rat) throw new PriceConfigError(`-maxPricePerCapability: ${field} must be a number, got ${JSON.stringify(value)}`);
  return rat;
}

export interface PriceLimitsOptions {
  maxPricePerUnit: string;
  pixelsPerUnit: string;
  /** JSON text or a path to a JSON file: {"capabilities_prices":[{pipeline, model_id, price_per_unit, pixels_per_unit, currency}]} */
  maxPricePerCapability: string;
}

/** Builds the ceilings from the reference's flags, with its defaults and fallbacks. */
export function createPriceLimits(opts: PriceLimitsOptions): PriceLimits {
  const pixelsPerUnit = parseConfigRat(opts.pixelsPerUnit.trim(), "-pixelsPerUnit");
  if (!pixelsPerUnit || !pixelsPerUnit.isInt() || pixelsPerUnit.sign() <= 0) {
    throw new PriceConfigError(`-pixelsPerUnit must be an integer > 0, got ${JSON.stringify(opts.pixelsPerUnit)}`);
  }
  const { price: maxPricePerUnit, currency: maxPriceCurrency } = parsePricePerUnit(opts.maxPricePerUnit, "-maxPricePerUnit");
  const limits: PriceLimits = {
    maxPrice: maxPricePerUnit.sign() > 0 ? ceilingIn(maxPricePerUnit.div(pixelsPerUnit), maxPriceCurrency) : undefined,
    perCapability: new Map(),
  };
  if (opts.maxPricePerCapability.trim() === "") return limits;

  let text = opts.maxPricePerCapability;
  if (!text.trim().startsWith("{")) {
    try {
      text = readFileSync(text, "utf8");
    } catch (err) {
      throw new PriceConfigError(`-maxPricePerCapability: cannot read ${text}: ${(err as Error).message}`);
    }
  }
  let parsed: { capabilities_prices?: unknown };
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new PriceConfigError(`-maxPricePerCapability is not valid JSON: ${(err as Error).message}`);
  }
  const entries = parsed?.capabilities_prices;
  if (!Array.isArray(entries)) throw new PriceConfigError(`-maxPricePerCapability must have a capabilities_prices array`);
  for (const [i, entry] of entries.entries()) {
    const e = entry as Record<string, unknown>;
    const pipeline = typeof e.pipeline === "string" ? e.pipeline : "";
    const modelId = typeof e.model_id === "string" && e.model_id !== "" ? e.model_id : "default";
    const currency = typeof e.currency === "string" ? e.currency.trim() : "";
    if (currency !== "" && !/^[A-Za-z][A-Za-z0-9]*$/.test(currency)) {
      throw new PriceConfigError(`-maxPricePerCapability[${i}]: currency must be a name such as wei, ETH or USD, got ${JSON.stringify(currency)}`);
    }
    let ppu = parseJsonRat(e.pixels_per_unit, `capabilities_prices[${i}].pixels_per_unit`);
    if (!ppu || ppu.sign() <= 0) ppu = pixelsPerUnit;
    let price = parseJsonRat(e.price_per_unit, `capabilities_prices[${i}].price_per_unit`);
    if (!price || price.sign() <= 0) {
      if (maxPricePerUnit.sign() <= 0) continue; // the reference then accepts any price for it
      // The reference takes -maxPricePerUnit's number only: the entry's own currency applies to it.
      price = maxPricePerUnit;
    }
    const capability = pipelineToCapability(pipeline);
    if (capability === undefined) {
      throw new PriceConfigError(`-maxPricePerCapability[${i}]: pipeline ${JSON.stringify(pipeline)} is not a known capability`);
    }
    let models = limits.perCapability.get(capability);
    if (!models) limits.perCapability.set(capability, (models = new Map()));
    models.set(modelId, ceilingIn(price.div(ppu), currency));
  }
  return limits;
}

/** Currencies the ceilings are in, other than wei: those the price feed must convert. */
export function ceilingCurrencies(limits: PriceLimits): Set<string> {
  const all = [limits.maxPrice, ...[...limits.perCapability.values()].flatMap((m) => [...m.values()])];
  return new Set(all.flatMap((c) => (c && c.currency !== "" ? [c.currency] : [])));
}

/** These limits converting through `rate` (the signer's price feed). */
export function withRate(limits: PriceLimits, rate: CurrencyRate): PriceLimits {
  return { ...limits, rate };
}

/** A ceiling in wei per pixel at the current rate; throws when its currency has no usable rate. */
export function ceilingWei(limits: PriceLimits, ceiling: Ceiling): Rat {
  if (ceiling.currency === "") return ceiling.perPixel;
  if (!limits.rate) throw new Error(`a ${ceiling.currency} price ceiling needs a price feed (-priceFeedAddr)`);
  return ceilingInWei(ceiling.perPixel, limits.rate.weiPer(ceiling.currency));
}

/** -maxPricePerUnit in wei per pixel at the current rate; undefined when no limit. */
export function globalMaxPrice(limits: PriceLimits): Rat | undefined {
  return limits.maxPrice && ceilingWei(limits, limits.maxPrice);
}

/** The ceiling for one (capability, model) in wei per pixel: the model's own, else the pipeline's "default". */
export function capabilityMaxPrice(limits: PriceLimits, capability: number, modelId: string): Rat | undefined {
  const models = limits.perCapability.get(capability);
  const ceiling = models?.get(modelId) ?? models?.get("default");
  return ceiling && ceilingWei(limits, ceiling);
}

/**
 * The configured ceiling for a request (the reference's GetCapabilitiesMaxPrice), in wei per
 * pixel at the current rate: the sum of the per-capability ceilings over the requested
 * (capability, model) pairs, or the global ceiling when the request names none with a price.
 * Only the ceilings the request uses are converted, so a stale feed fails only those.
 */
export function configuredMaxPrice(limits: PriceLimits, capabilities: Capabilities | undefined): Rat | undefined {
  let sum = Rat.ZERO;
  for (const [capability, constraints] of Object.entries(capabilities?.constraints?.PerCapability ?? {})) {
    for (const modelId of Object.keys(constraints.models)) {
      const price = capabilityMaxPrice(limits, Number(capability), modelId);
      if (price) sum = sum.add(price);
    }
  }
  return sum.sign() === 0 ? globalMaxPrice(limits) : sum;
}
