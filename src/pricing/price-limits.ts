import { ConfigError } from "../config/errors.js";
import { readFileSync } from "node:fs";
import type { Capabilities } from "../../gen/net/lp_rpc_pb.js";
import { DecimalSizeError, Rat } from "../math/rat.js";
import { pipelineToCapability } from "./capabilities.js";

/** The configured price ceilings, in wei per unit (the reference's BroadcastConfig). */
export interface PriceLimits {
  /** -maxPricePerUnit / -pixelsPerUnit; undefined when no limit (0). */
  maxPrice: Rat | undefined;
  /** capability id → model id ("default" for all models) → ceiling. */
  perCapability: Map<number, Map<string, Rat>>;
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

/** Parses -maxPricePerUnit ("<number>[currency]"); only wei (no suffix, or "wei") is supported without a price feed. */
function parsePricePerUnit(text: string, flag: string): Rat {
  const m = /^(\d+(?:\.\d+)?)([A-Za-z][A-Za-z0-9]*)?$/.exec(text.trim());
  if (!m) throw new PriceConfigError(`${flag} must be a number with an optional currency, got ${JSON.stringify(text)}`);
  if (m[2] !== undefined && m[2].toLowerCase() !== "wei") {
    throw new PriceConfigError(`${flag}: currency ${m[2]} needs a price feed, which lpsigner does not have; give the price in wei`);
  }
  return parseConfigRat(m[1]!, flag)!;
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
  const maxPricePerUnit = parsePricePerUnit(opts.maxPricePerUnit, "-maxPricePerUnit");
  const limits: PriceLimits = {
    maxPrice: maxPricePerUnit.sign() > 0 ? maxPricePerUnit.div(pixelsPerUnit) : undefined,
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
    const currency = typeof e.currency === "string" ? e.currency : "";
    if (currency !== "" && currency.toLowerCase() !== "wei") {
      throw new PriceConfigError(`-maxPricePerCapability[${i}]: currency ${currency} needs a price feed; give the price in wei`);
    }
    let ppu = parseJsonRat(e.pixels_per_unit, `capabilities_prices[${i}].pixels_per_unit`);
    if (!ppu || ppu.sign() <= 0) ppu = pixelsPerUnit;
    let price = parseJsonRat(e.price_per_unit, `capabilities_prices[${i}].price_per_unit`);
    if (!price || price.sign() <= 0) {
      if (maxPricePerUnit.sign() <= 0) continue; // the reference then accepts any price for it
      price = maxPricePerUnit;
    }
    const capability = pipelineToCapability(pipeline);
    if (capability === undefined) {
      throw new PriceConfigError(`-maxPricePerCapability[${i}]: pipeline ${JSON.stringify(pipeline)} is not a known capability`);
    }
    let models = limits.perCapability.get(capability);
    if (!models) limits.perCapability.set(capability, (models = new Map()));
    models.set(modelId, price.div(ppu));
  }
  return limits;
}

/** The ceiling for one (capability, model): the model's own, else the pipeline's "default". */
export function capabilityMaxPrice(limits: PriceLimits, capability: number, modelId: string): Rat | undefined {
  const models = limits.perCapability.get(capability);
  return models?.get(modelId) ?? models?.get("default");
}

/**
 * The configured ceiling for a request (the reference's GetCapabilitiesMaxPrice): the sum of
 * the per-capability ceilings over the requested (capability, model) pairs, or the global
 * ceiling when the request names none with a price.
 */
export function configuredMaxPrice(limits: PriceLimits, capabilities: Capabilities | undefined): Rat | undefined {
  let sum = Rat.ZERO;
  for (const [capability, constraints] of Object.entries(capabilities?.constraints?.PerCapability ?? {})) {
    for (const modelId of Object.keys(constraints.models)) {
      const price = capabilityMaxPrice(limits, Number(capability), modelId);
      if (price) sum = sum.add(price);
    }
  }
  return sum.sign() === 0 ? limits.maxPrice : sum;
}
