/**
 * LastUpdate in nanoseconds, as go-livepeer writes it (issue 27): a go-livepeer replica and
 * lpsigner sharing one key take turns on a session, so a state handed over within the same
 * millisecond must bill the microseconds between them, not the preload. The expected units come
 * from go-livepeer's rule run in Go (int64(1280·720·30 · elapsed) for lv2v, ceil(elapsed) for
 * live, the preload when elapsed <= 0), with elapsed = now.Sub(LastUpdate).Seconds().
 */
import { describe, expect, test } from "vitest";
import { createWallClock, nowNs, systemClock, type Clock } from "../../src/clock.js";
import { utf8 } from "../../src/crypto/bytes.js";
import { GO_ZERO_TIME_NS } from "../../src/go/time.js";
import { generatePayment } from "../../src/payment/generate-payment.js";
import { openState, type SignedState } from "../../src/state/payment-state.js";
import { domainRequest, orchestratorInfo, T0, testDeps, testOrchestrator } from "../support/fixtures.js";

const SECOND = 1_000_000_000n;
const LV2V_PRELOAD = 1280n * 720n * 30n * 60n;

/** A test clock read in nanoseconds, or (msOnly) in whole milliseconds as Date.now() reads. */
function testClock(start: bigint, msOnly = false): Clock & { at: bigint } {
  const clock: Clock & { at: bigint } = Object.assign(() => Number(clock.at / 1_000_000n), { at: start });
  if (!msOnly) clock.ns = () => clock.at;
  return clock;
}

/** One session: lpsigner's first call at T0, then states handed back as a go-livepeer replica would sign them. */
async function session(type: "lv2v" | "live", msOnly = false) {
  const clock = testClock(T0, msOnly);
  const { deps, signer } = testDeps({ clock });
  const orch = testOrchestrator();
  const pay = (state?: SignedState) => generatePayment(deps, domainRequest({ type, manifestId: "m", state, orchestrator: orchestratorInfo({ orch }) }));
  const first = await pay();
  /** The first state with LastUpdate as the text a go-livepeer replica wrote, signed with the shared key. */
  const fromGo = (lastUpdate: string): SignedState => {
    const json = new TextDecoder().decode(first.state.state).replace(/"LastUpdate":"[^"]*"/, `"LastUpdate":"${lastUpdate}"`);
    const bytes = utf8.encode(json);
    return { state: bytes, sig: signer.sign(bytes) };
  };
  const lastUpdate = (s: SignedState) => openState(s, signer.address).lastUpdate;
  return { clock, pay, fromGo, lastUpdate, first, signer };
}

describe("LastUpdate carries nanoseconds (issue 27)", () => {
  test("the state's LastUpdate is the clock's nanosecond, written as Go's RFC3339Nano (trailing zeros trimmed)", async () => {
    const s = await session("live");
    const written = (st: SignedState) => /"LastUpdate":"([^"]*)"/.exec(new TextDecoder().decode(st.state))![1];
    expect(written(s.first.state)).toBe("2027-01-15T08:00:00Z");
    for (const [ns, text] of [
      [123_456_789n, "2027-01-15T08:00:01.123456789Z"],
      [120_000_000n, "2027-01-15T08:00:02.12Z"],
      [1n, "2027-01-15T08:00:03.000000001Z"],
      [999_999_000n, "2027-01-15T08:00:04.999999Z"],
    ] as const) {
      s.clock.at = T0 + BigInt(text.slice(17, 19)) * SECOND + ns;
      const r = await s.pay(s.first.state);
      expect(written(r.state)).toBe(text);
      expect(s.lastUpdate(r.state)).toBe(s.clock.at);
    }
  });

  test("a go-livepeer state 300 µs old bills 300 µs (8294 pixels), where a millisecond clock billed the 60 s preload", async () => {
    for (const msOnly of [false, true]) {
      const s = await session("lv2v", msOnly);
      // go-livepeer wrote its time.Now() in its local zone, to the nanosecond.
      const handed = s.fromGo("2027-01-15T10:00:01.123456789+02:00");
      s.clock.at = T0 + SECOND + 123_756_789n; // 300 µs later, the same millisecond
      const r = await s.pay(handed);
      // A millisecond clock reads .123, before the handed-over .123456789: elapsed < 0.
      expect(r.units).toBe(msOnly ? LV2V_PRELOAD : 8294n);
      expect(s.lastUpdate(r.state)).toBe(msOnly ? T0 + SECOND + 123_000_000n : s.clock.at);
    }
  });

  test("the same for live: 300 µs bills ceil = 1 second, not the 10 s preload", async () => {
    const s = await session("live");
    s.clock.at = T0 + SECOND + 123_756_789n;
    expect((await s.pay(s.fromGo("2027-01-15T08:00:01.123456789Z"))).units).toBe(1n);
  });

  test("every RFC 3339 precision and zone parses and bills exactly as go-livepeer computes it", async () => {
    // From Go: json.Unmarshal of each text, then the reference's units at now = T0 + 2 s.
    const cases: [string, bigint, bigint][] = [
      ["2027-01-15T08:00:00Z", 55_296_000n, 2n],
      ["2027-01-15T10:00:00.1+02:00", 52_531_200n, 2n],
      ["2027-01-15T02:30:00.123-05:30", 51_895_296n, 2n],
      ["2027-01-15T08:00:00.123456Z", 51_882_688n, 2n],
      ["2027-01-15T10:00:00.123456789+02:00", 51_882_666n, 2n],
      ["2027-01-15T08:00:00.999999999Z", 27_648_000n, 2n],
      ["2027-01-15T08:00:00.000000001-00:00", 55_295_999n, 2n],
    ];
    const lv2v = await session("lv2v");
    const live = await session("live");
    for (const [text, pixels, seconds] of cases) {
      lv2v.clock.at = live.clock.at = T0 + 2n * SECOND;
      expect((await lv2v.pay(lv2v.fromGo(text))).units, text).toBe(pixels);
      expect((await live.pay(live.fromGo(text))).units, text).toBe(seconds);
    }
  });

  test("a LastUpdate ahead of this clock (skew between replicas) bills the preload and sets LastUpdate back to now, as the reference", async () => {
    const lv2v = await session("lv2v");
    lv2v.clock.at = T0 + SECOND + 123_156_789n; // 300 µs before the replica's time
    const r = await lv2v.pay(lv2v.fromGo("2027-01-15T08:00:01.123456789Z"));
    expect(r.units).toBe(LV2V_PRELOAD);
    expect(lv2v.lastUpdate(r.state)).toBe(lv2v.clock.at);
    lv2v.clock.at += SECOND; // the next call bills from this clock's own time
    expect((await lv2v.pay(r.state)).units).toBe(27_648_000n);

    const live = await session("live");
    live.clock.at = T0 + SECOND + 123_156_789n;
    expect((await live.pay(live.fromGo("2027-01-15T08:00:01.123456789Z"))).units).toBe(10n);
  });

  test("lv2v 1 ns after a go-livepeer state is 0 pixels: refused as the reference refuses it", async () => {
    const s = await session("lv2v");
    s.clock.at = T0 + SECOND + 123_456_790n;
    await expect(s.pay(s.fromGo("2027-01-15T08:00:01.123456789Z"))).rejects.toThrow("missing billable unit or job type");
  });
});

describe("the nanosecond wall clock", () => {
  test("two states signed within one millisecond carry increasing LastUpdates and bill the time between", async () => {
    const wallMs = Number(T0 / 1_000_000n) + 5; // frozen: every call in the same millisecond
    let mono = 7_000_000_000n;
    const clock = createWallClock(() => wallMs, () => (mono += 250_000n));
    const { deps, signer } = testDeps({ clock });
    const orch = testOrchestrator();
    const pay = (state?: SignedState) => generatePayment(deps, domainRequest({ type: "lv2v", manifestId: "m", state, orchestrator: orchestratorInfo({ orch }) }));
    const first = await pay();
    const second = await pay(first.state);
    const third = await pay(second.state);
    const times = [first, second, third].map((r) => openState(r.state, signer.address).lastUpdate);
    expect(times).toEqual([T0 + 5_000_000n, T0 + 5_250_000n, T0 + 5_500_000n]);
    expect(second.units).toBe(6912n); // 250 µs of 1280x720x30
    expect(third.units).toBe(6912n);
  });

  test("follows the wall clock when it is stepped, and stays within a millisecond of it otherwise", () => {
    let wall = 1_000;
    let mono = 0n;
    const clock = createWallClock(() => wall, () => mono);
    expect(clock.ns!()).toBe(1_000_000_000n);
    mono += 400_000n;
    expect(clock.ns!()).toBe(1_000_400_000n);
    mono += 1_700_000n; // 2.1 ms on while the wall still reads 1000 ms: more than 1 ms past its millisecond
    expect(clock.ns!()).toBe(1_000_000_000n);
    wall = 1_001;
    mono += 1_500_000n; // 1.5 ms on: inside the wall's millisecond or the next
    expect(clock.ns!()).toBe(1_001_500_000n);
    wall = 1_003;
    mono += 500_000n; // at the start of the wall's millisecond
    expect(clock.ns!()).toBe(1_002_000_000n);
    wall = 1_004; // the wall moved on 1 ms while the monotonic clock did not: more than 1 ms behind
    expect(clock.ns!()).toBe(1_004_000_000n);
    wall = 11_001; // stepped forward 10 s
    expect(clock.ns!()).toBe(11_001_000_000n);
    wall = 1; // stepped back
    mono += 1n;
    expect(clock.ns!()).toBe(1_000_000n);
    mono += 1n;
    expect(clock.ns!()).toBe(1_000_001n);
    expect(clock()).toBe(1);
  });

  test("a pause between reading the wall and the monotonic clock (a busy machine) is not taken for a step back", () => {
    const walls = [1_000, 1_000, 1_000, 1_003]; // anchor (read, confirmed), then read before and after a pause
    let mono = 0n;
    const clock = createWallClock(() => (walls.length > 1 ? walls.shift()! : walls[0]!), () => mono);
    expect(clock.ns!()).toBe(1_000_000_000n);
    mono = 3_500_000n; // paused 3.5 ms after the wall read 1000
    expect(clock.ns!()).toBe(1_003_500_000n);
  });

  test("systemClock: nanoseconds that increase at every reading, within a millisecond of Date.now", () => {
    const readings: { before: number; ns: bigint; after: number }[] = [];
    for (let i = 0; i < 5_000; i++) {
      const before = Date.now();
      const ns = nowNs(systemClock);
      readings.push({ before, ns, after: Date.now() });
    }
    let sameMillisecond = 0;
    for (let i = 0; i < readings.length; i++) {
      const { before, ns, after } = readings[i]!;
      expect(ns).toBeGreaterThanOrEqual(BigInt(before - 1) * 1_000_000n);
      expect(ns).toBeLessThan(BigInt(after + 2) * 1_000_000n);
      if (i > 0) {
        const prev = readings[i - 1]!;
        expect(ns).toBeGreaterThan(prev.ns);
        if (prev.before === after) sameMillisecond++;
      }
    }
    expect(sameMillisecond).toBeGreaterThan(0);
    expect(GO_ZERO_TIME_NS).toBeLessThan(readings[0]!.ns);
  });
});
