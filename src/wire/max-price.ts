import { goNumber, goString, goStruct, type GoValue } from "../go/struct.js";
import { goTrimSpace } from "../go/trim-space.js";
import { DecimalSizeError, Rat } from "../math/rat.js";
import type { JobType } from "../pricing/job-type.js";

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

const UNIT_FOR_TYPE: Partial<Record<JobType, string>> = {
  live: "seconds",
  lv2v: "720p-pixel-seconds",
  fixed: "fixed",
};

/** A request or webhook maxPrice checked for the job type: the ceiling in wei per unit, or why not. */
export type MaxPriceCheck = { ok: true; price: Rat } | { ok: false; message: string };

/** Validates a request or webhook maxPrice for the job type (the reference's parseRemotePaymentMaxPrice). */
export function parseMaxPrice(maxPrice: MaxPriceInput, type: JobType): MaxPriceCheck {
  const fail = (message: string): MaxPriceCheck => ({ ok: false, message });
  let price: Rat | undefined;
  try {
    price = Rat.parseBounded(goTrimSpace(maxPrice.price));
  } catch (err) {
    if (err instanceof DecimalSizeError) return fail(`maxPrice.price ${err.message}`);
    throw err;
  }
  if (!price || price.sign() <= 0) return fail("maxPrice.price must be a positive decimal");
  if (goTrimSpace(maxPrice.currency).toLowerCase() !== "wei") return fail("maxPrice.currency must be wei");
  const expectedUnit = UNIT_FOR_TYPE[type];
  if (expectedUnit === undefined) return fail("maxPrice requires payment type live, lv2v, or fixed");
  if (goTrimSpace(maxPrice.unit).toLowerCase() !== expectedUnit) {
    return fail(`maxPrice.unit must be ${expectedUnit} for payment type ${type}`);
  }
  return { ok: true, price };
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
