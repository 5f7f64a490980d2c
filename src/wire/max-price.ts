import { Rat } from "../math/rat.js";
import { getField, readNumberText, readObject, readString, type JsonValue } from "../go/json.js";
import { JOB_TYPE_FIXED, JOB_TYPE_LIVE, JOB_TYPE_LV2V } from "../pricing/fee.js";

/** A ceiling in the reference's LiveRunnerPriceInfo form. */
export interface MaxPriceInput {
  price: string;
  currency: string;
  unit: string;
}

/** Go's strings.TrimSpace: Unicode white space (U+0085 yes, U+FEFF no, unlike String.trim). */
export function goTrimSpace(s: string): string {
  return s.replace(/^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g, "");
}

/**
 * Decodes a LiveRunnerPriceInfo JSON value with Go's rules (price a json.Number, a number or a
 * string holding one); undefined when absent or null. Type errors throw JsonTypeError.
 */
export function readMaxPriceJson(v: JsonValue | undefined, field: string): MaxPriceInput | undefined {
  const mp = readObject(v, field);
  if (!mp) return undefined;
  return {
    price: readNumberText(getField(mp, "price"), `LiveRunnerPriceInfo.${field}.price`) ?? "",
    currency: readString(getField(mp, "currency"), `LiveRunnerPriceInfo.${field}.currency`) ?? "",
    unit: readString(getField(mp, "unit"), `LiveRunnerPriceInfo.${field}.unit`) ?? "",
  };
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
  const price = Rat.parse(goTrimSpace(maxPrice.price));
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
