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

test("Go's own json.Marshal output, every precision and zone, parses to its instant; UTC formats back as Go wrote it", () => {
  // Written by Go 1.26 (encoding/json of time.Time) for 1_800_000_000 s plus each fraction.
  const base = 1_800_000_000n * 1_000_000_000n;
  const fractions: [bigint, string][] = [
    [0n, ""],
    [100_000_000n, ".1"],
    [120_000_000n, ".12"],
    [123_000_000n, ".123"],
    [123_456_000n, ".123456"],
    [123_456_789n, ".123456789"],
    [1n, ".000000001"],
    [999_999_999n, ".999999999"],
  ];
  for (const [ns, fraction] of fractions) {
    expect(formatGoTime(base + ns)).toBe(`2027-01-15T08:00:00${fraction}Z`);
    for (const text of [`2027-01-15T08:00:00${fraction}Z`, `2027-01-15T10:00:00${fraction}+02:00`, `2027-01-15T02:30:00${fraction}-05:30`]) {
      expect(parseGoTime(text), text).toBe(base + ns);
    }
  }
  // Go keeps the first nine digits of a longer fraction (truncated, not rounded).
  expect(parseGoTime("2027-01-15T08:00:00.1234567891Z")).toBe(base + 123_456_789n);
  expect(parseGoTime("2027-01-15T08:00:00.1234567899Z")).toBe(base + 123_456_789n);
});
