import { goNumber, goString, goStruct, type GoValue } from "../go/struct.js";
import { goTrimSpace } from "../go/trim-space.js";
import { DecimalSizeError, Rat } from "../math/rat.js";
import { JOB_TYPE_FIXED, JOB_TYPE_LIVE, JOB_TYPE_LV2V } from "../pricing/fee.js";

/** A ceiling in the reference's LiveRunnerPriceInfo form. */
export interface MaxPriceInput {
  price: string;
  currency: string;
  unit: string;
}

/** runner.LiveRunnerPriceInfo: price is a json.Number (a number, or a string holding one). */
export const LiveRunnerPriceInfo = goStruct("runner.LiveRunnerPriceInfo", {
  price: ["price", goNumber],
  currency: ["currency", goString],
  unit: ["unit", goString],
});

/** A decoded LiveRunnerPriceInfo with Go's zero values filled in. */
export function toMaxPriceInput(p: GoValue<typeof LiveRunnerPriceInfo> | undefined): MaxPriceInput | undefined {
  return p && { price: p.price ?? "", currency: p.currency ?? "", unit: p.unit ?? "" };
}

export class InvalidMaxPriceError extends Error {
  override name = "InvalidMaxPriceError";
}

const UNIT_FOR_TYPE: Record<string, string> = {
  [JOB_TYPE_LIVE]: "seconds",
  [JOB_TYPE_LV2V]: "720p-pixel-seconds",
  [JOB_TYPE_FIXED]: "fixed",
};

/** Validates a request or webhook maxPrice for the job type; returns the ceiling in wei per unit. */
export function parseMaxPrice(maxPrice: MaxPriceInput, type: string): Rat {
  let price: Rat | undefined;
  try {
    price = Rat.parseBounded(goTrimSpace(maxPrice.price));
  } catch (err) {
    if (err instanceof DecimalSizeError) throw new InvalidMaxPriceError(`maxPrice.price ${err.message}`);
    throw err;
  }
  if (!price || price.sign() <= 0) throw new InvalidMaxPriceError("maxPrice.price must be a positive decimal");
  if (goTrimSpace(maxPrice.currency).toLowerCase() !== "wei") throw new InvalidMaxPriceError("maxPrice.currency must be wei");
  const expectedUnit = UNIT_FOR_TYPE[type];
  if (expectedUnit === undefined) throw new InvalidMaxPriceError("maxPrice requires payment type live, lv2v, or fixed");
  if (goTrimSpace(maxPrice.unit).toLowerCase() !== expectedUnit) {
    throw new InvalidMaxPriceError(`maxPrice.unit must be ${expectedUnit} for payment type ${type}`);
  }
  return price;
}

export interface PriceCeiling {
  source: string;
  price: Rat | undefined;
}

/** The lowest ceiling present that the price exceeds, if any (the reference's checkRemotePaymentPrice). */
export function exceededCeiling(price: Rat, ceilings: PriceCeiling[]): { source: string; price: Rat } | undefined {
  let effective: { source: string; price: Rat } | undefined;
  for (const c of ceilings) {
    if (c.price && (!effective || c.price.cmp(effective.price) < 0)) effective = { source: c.source, price: c.price };
  }
  return effective && price.cmp(effective.price) > 0 ? effective : undefined;
}
