/**
 * The one clock of payment, chain and discovery: wall time in milliseconds since the Unix epoch
 * (Date.now's shape; fractions allowed for sub-millisecond test clocks). A clock may also read
 * whole nanoseconds (ns), as the state's LastUpdate carries them.
 *
 * Wall time rather than a monotonic origin (performance.timeOrigin + now()): session state
 * carries LastUpdate between calls, replicas and restarts, and only wall time means the same
 * instant on every replica.
 */
export type Clock = (() => number) & { ns?: () => bigint };

const NS_PER_MS = 1_000_000n;

/**
 * A wall clock with nanoseconds: wall time (ms) anchored once, plus the monotonic clock's
 * progress since, so two readings within one millisecond still differ. go-livepeer writes
 * LastUpdate in nanoseconds: a state it handed over within the same millisecond must not read
 * as elapsed <= 0 here (that bills the preload). When the sum strays more than 1 ms outside the
 * millisecond wallMs reports (the wall clock was stepped, or fake timers set it), it re-anchors
 * there, so it follows wall time as Date.now does.
 */
export function createWallClock(wallMs: () => number, monoNs: () => bigint): Clock {
  const toNs = (ms: number) => BigInt(ms) * NS_PER_MS;
  let anchorWall = 0n;
  let anchorMono: bigint | undefined;
  const ns = (): bigint => {
    const before = wallMs();
    let mono = monoNs();
    if (anchorMono !== undefined) {
      const t = anchorWall + (mono - anchorMono);
      // The wall is read first, so a pause between the two reads (a busy machine) can only make
      // t look ahead of it: that case is checked again against a wall read after.
      const low = toNs(before) - NS_PER_MS;
      if (t >= low && (t < toNs(before) + 2n * NS_PER_MS || t < toNs(wallMs()) + 2n * NS_PER_MS)) return t;
    }
    // Anchor on a monotonic reading taken within the wall's millisecond (a few tries).
    let wall = before;
    for (let i = 0; i < 3; i++) {
      const after = wallMs();
      if (after === wall) break;
      wall = after;
      mono = monoNs();
    }
    anchorWall = toNs(wall);
    anchorMono = mono;
    return anchorWall;
  };
  return Object.assign(() => wallMs(), { ns });
}

/**
 * Date.now, read at each call so that vitest's fake timers (vi.setSystemTime) move it; its ns
 * adds process.hrtime's progress within the millisecond.
 */
export const systemClock: Clock = createWallClock(
  () => Date.now(),
  () => process.hrtime.bigint(),
);

/** The clock's time in nanoseconds since the epoch, as a Go time.Time carries it. */
export function nowNs(clock: Clock): bigint {
  if (clock.ns) return clock.ns();
  const ms = clock();
  const whole = Math.floor(ms);
  return BigInt(whole) * NS_PER_MS + BigInt(Math.round((ms - whole) * 1e6));
}
