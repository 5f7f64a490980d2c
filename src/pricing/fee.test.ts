import { describe, expect, test } from "vitest";
import { Rat } from "../math/rat.js";
import { billableUnits, computeFee, ticketsNeeded } from "./fee.js";
import type { JobType } from "./job-type.js";

const INT64_MAX = (1n << 63n) - 1n;

describe("billableUnits (the reference's step 8)", () => {
  // type, elapsed seconds, inPixels, units
  const TABLE: [JobType, number, bigint, bigint][] = [
    ["lv2v", 0, 0n, 60n * 1280n * 720n * 30n], // new session: 60 s preload
    ["lv2v", -5, 0n, 60n * 1280n * 720n * 30n], // clock stepped back: the preload again, as the reference
    ["lv2v", 2.5, 0n, 69_120_000n],
    ["lv2v", 1.000000001, 0n, 27_648_000n], // int64(27648000.027648) truncates
    ["lv2v", 1e300, 0n, INT64_MAX], // saturates (Go's conversion is undefined there)
    ["live", 0, 0n, 10n], // 10 s preload
    ["live", -0.001, 0n, 10n],
    ["live", 0.001, 0n, 1n], // whole seconds, rounded up
    ["live", 4.2, 0n, 5n],
    ["fixed", 0, 123n, 1n],
    ["fixed", 3600, 0n, 1n],
    ["", 0, 3_000_000n, 3_000_000n], // no type: inPixels as given
    ["", 10, -1n, -1n], // the caller refuses units <= 0
  ];
  test.each(TABLE)("%s elapsed=%s inPixels=%s → %s", (type, elapsedSeconds, inPixels, units) => {
    expect(billableUnits({ type, elapsedSeconds, inPixels })).toBe(units);
  });
});

describe("computeFee and ticketsNeeded (the reference's StageUpdate)", () => {
  const r = (s: string) => Rat.parse(s)!;
  // units, price, existing credit, EV, fee, tickets
  const TABLE: [bigint, string, string, string, string, bigint][] = [
    [1658880000n, "1", "0", "1000000000", "1658880000", 2n],
    [10n, "1000000", "0", "10000000", "10000000", 1n],
    [1n, "5", "1000", "10000000", "5", 1n], // credit below one EV: a ticket
    [1n, "5", "20000000", "10000000", "5", 0n], // credit covers max(fee, EV): none
    [3n, "2/3", "0", "1/3", "2", 6n], // exact rationals
    [5n, "1", "0", "0", "5", 0n], // EV 0: the caller refuses (no value)
    [1n, "1", "10000000", "10000000", "1", 0n], // credit exactly one EV
  ];
  test.each(TABLE)("units=%s price=%s existing=%s ev=%s", (units, price, existing, ev, fee, tickets) => {
    const f = computeFee(units, r(price));
    expect(f.toString()).toBe(fee);
    expect(ticketsNeeded({ existing: r(existing), fee: f, ev: r(ev) })).toBe(tickets);
  });
});
