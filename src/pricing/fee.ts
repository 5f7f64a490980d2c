import { INT64_MAX, INT64_MIN } from "../go/int64.js";
import { ceilQuotient, Rat } from "../math/rat.js";
import type { JobType } from "./job-type.js";

/** lv2v bills the reference's default segment: 1280x720 at 30 fps. */
const LV2V_PIXELS_PER_SECOND = 1280 * 720 * 30;
const LV2V_PRELOAD_SECONDS = 60;
const LIVE_PRELOAD_SECONDS = 10;
/** BYOC (the branch ae1a0ea7a) bills whole compute-seconds, with lv2v's 60 s preload. */
const BYOC_PRELOAD_SECONDS = 60;

/** Go's int64(float64) conversion for in-range values; saturates outside (Go's is undefined there). */
function float64ToInt64(x: number): bigint {
  if (Number.isNaN(x)) return INT64_MIN;
  if (x >= 9.223372036854775807e18) return INT64_MAX;
  if (x <= -9.223372036854775808e18) return INT64_MIN;
  return BigInt(Math.trunc(x));
}

/**
 * Billable units for one call, as the reference computes them from the seconds elapsed
 * since the state's LastUpdate (0 on a new session): lv2v pixels with a 60 s preload,
 * live whole seconds with a 10 s preload, fixed 1, byoc whole seconds with a 60 s preload, and
 * raw inPixels when no type is given.
 * The preload is charged whenever elapsed <= 0, as the reference does (a clock stepped back too).
 */
export function billableUnits({ type, elapsedSeconds, inPixels }: { type: JobType; elapsedSeconds: number; inPixels: bigint }): bigint {
  switch (type) {
    case "lv2v": {
      const secs = elapsedSeconds <= 0 ? LV2V_PRELOAD_SECONDS : elapsedSeconds;
      return float64ToInt64(LV2V_PIXELS_PER_SECOND * secs);
    }
    case "live": {
      const secs = elapsedSeconds <= 0 ? LIVE_PRELOAD_SECONDS : elapsedSeconds;
      return float64ToInt64(Math.ceil(secs));
    }
    case "fixed":
      return 1n;
    case "byoc": {
      const secs = elapsedSeconds <= 0 ? BYOC_PRELOAD_SECONDS : elapsedSeconds;
      return float64ToInt64(Math.ceil(secs));
    }
    case "":
      return inPixels;
  }
}

/** fee = price × units, exact. */
export function computeFee(units: bigint, price: Rat): Rat {
  return price.mul(new Rat(units));
}

/**
 * The reference's StageUpdate: the credit required is max(fee, EV of one ticket); when the
 * existing credit covers it no ticket is needed, else enough tickets to cover the gap.
 */
export function ticketsNeeded({ existing, fee, ev }: { existing: Rat; fee: Rat; ev: Rat }): bigint {
  const minCredit = fee.cmp(ev) >= 0 ? fee : ev;
  if (existing.cmp(minCredit) >= 0) return 0n;
  if (ev.sign() === 0) return 0n;
  // ceil((minCredit − existing) / ev) on the raw fractions: a ceiling needs no gcd.
  const gap = minCredit.num * existing.den - existing.num * minCredit.den;
  return ceilQuotient(gap * ev.den, minCredit.den * existing.den * ev.num);
}
