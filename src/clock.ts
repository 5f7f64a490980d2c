/**
 * The one clock of payment, chain and discovery: wall time in milliseconds since the Unix epoch
 * (Date.now's shape; fractions allowed for sub-millisecond test clocks).
 *
 * Wall time rather than a monotonic origin (performance.timeOrigin + now()): session state
 * carries LastUpdate between calls, replicas and restarts, and only wall time means the same
 * instant on every replica.
 */
export type Clock = () => number;

/** Date.now, read at each call so that vitest's fake timers (vi.setSystemTime) move it. */
export const systemClock: Clock = () => Date.now();

/** The clock's time in nanoseconds since the epoch, as a Go time.Time carries it. */
export function nowNs(clock: Clock): bigint {
  const ms = clock();
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
}
