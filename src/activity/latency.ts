/**
 * A fixed-size log-scale latency histogram: constant memory and O(1) recording, quantiles
 * within about 5 % (8 bins per doubling, from 10 µs to about 40 s).
 */
const BINS_PER_OCTAVE = 8;
const MIN_MS = 0.01;
export const LATENCY_BINS = 22 * BINS_PER_OCTAVE;

export function latencyBin(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  return Math.min(LATENCY_BINS - 1, Math.floor(Math.log2(ms / MIN_MS) * BINS_PER_OCTAVE));
}

/** The geometric middle of a bin, ms. */
function binValue(bin: number): number {
  return MIN_MS * 2 ** ((bin + 0.5) / BINS_PER_OCTAVE);
}

/** The q-quantile (0 < q ≤ 1) of the summed histograms, ms; 0 when they are empty. */
export function latencyQuantile(histograms: Uint32Array[], q: number): number {
  const sum = new Float64Array(LATENCY_BINS);
  let total = 0;
  for (const h of histograms) {
    for (let i = 0; i < LATENCY_BINS; i++) sum[i]! += h[i]!;
  }
  for (let i = 0; i < LATENCY_BINS; i++) total += sum[i]!;
  if (total === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < LATENCY_BINS; i++) {
    seen += sum[i]!;
    if (seen >= rank) return binValue(i);
  }
  return binValue(LATENCY_BINS - 1);
}
