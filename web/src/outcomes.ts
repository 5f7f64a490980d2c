/** The payment outcomes the chart stacks and the legend counts (no DOM here: unit-tested in Node). */
import type { PaymentOutcomeCounts } from "../../gen/livepeer/signer/v1/signer_pb.js";

export const OUTCOMES = [
  { key: "paid", label: "paid" },
  { key: "nothingDue", label: "nothing due" },
  { key: "refresh", label: "refresh" },
  { key: "priceExceeded", label: "price exceeded" },
  { key: "clientError", label: "client error" },
  { key: "unavailable", label: "unavailable" },
  { key: "internalError", label: "internal error" },
] as const satisfies readonly { key: keyof PaymentOutcomeCounts; label: string }[];

export type OutcomeKey = (typeof OUTCOMES)[number]["key"];

/** Calls per outcome summed over the buckets: what the chart shows, for its legend. */
export function windowTotals(buckets: readonly { payments?: Partial<Record<OutcomeKey, bigint>> }[]): Record<OutcomeKey, bigint> {
  const sums = Object.fromEntries(OUTCOMES.map((o) => [o.key, 0n])) as Record<OutcomeKey, bigint>;
  for (const b of buckets) for (const o of OUTCOMES) sums[o.key] += b.payments?.[o.key] ?? 0n;
  return sums;
}
