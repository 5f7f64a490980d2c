import { expect, test } from "vitest";
import { formatGoTime, GO_ZERO_TIME_NS, parseGoTime } from "./time.js";

/** Go's RFC 3339 with nanoseconds, written from Date for whole seconds plus the trimmed fraction. */
function expected(ns: bigint): string {
  const sec = ns / 1_000_000_000n - (ns % 1_000_000_000n < 0n ? 1n : 0n);
  const frac = ns - sec * 1_000_000_000n;
  const whole = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  return whole + (frac === 0n ? "" : "." + frac.toString().padStart(9, "0").replace(/0+$/, "")) + "Z";
}

test("formatGoTime writes Go's RFC 3339 nanoseconds, the same second twice or not, and parses back", () => {
  const base = 1_790_000_000_000_000_000n;
  const values: bigint[] = [0n, -1n, 1n, GO_ZERO_TIME_NS, base, base + 1n, base + 999_999_999n, base + 1_000_000_000n, -86_400_000_000_001n];
  for (let i = 0; i < 2000; i++) values.push(base + BigInt(Math.floor(Math.random() * 3e9)) * (i % 2 ? 1n : 1_000_000n));
  for (const ns of values) {
    expect(formatGoTime(ns)).toBe(expected(ns));
    expect(parseGoTime(formatGoTime(ns))).toBe(ns);
  }
  expect(() => formatGoTime(400_000_000_000_000_000_000n)).toThrow(RangeError);
});
