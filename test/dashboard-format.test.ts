/** The dashboard's number formatting: wei in a readable unit with the exact value kept. */
import { describe, expect, test } from "vitest";
import { windowTotals } from "../web/src/outcomes.js";
import { count, decimal, duration, latencyPair, networkName, parseRat, ratio, significant, wei } from "../web/src/format.js";

describe("dashboard formatting", () => {
  test("wei reads as ETH, gwei or wei, the exact amount kept for the tooltip", () => {
    expect(wei("10000000000000000000")).toEqual({ text: "10 ETH", exact: "10,000,000,000,000,000,000 wei" });
    expect(wei("1234567890123456789").text).toBe("1.234 ETH");
    expect(wei("100000000000000").text).toBe("0.0001 ETH");
    expect(wei("99999999999999").text).toBe("99,999 gwei");
    expect(wei("3000000000000").text).toBe("3,000 gwei");
    expect(wei("12410000000").text).toBe("12.41 gwei");
    expect(wei("10000000").text).toBe("0.01 gwei");
    expect(wei("0").text).toBe("0 wei");
    expect(wei(123n).exact).toBe("123 wei");
    // A rational EV: a short decimal shown, a longer one in the tooltip, never the fraction.
    expect(wei("1/3")).toEqual({ text: "0.3333 wei", exact: "≈ 0.333333333 wei" });
    expect(wei("6/3")).toEqual({ text: "2 wei", exact: "2 wei" });
    expect(wei(`${3n * 2n ** 200n + 1n}/${2n ** 200n}`).exact).toBe("≈ 3 wei");
    expect(wei("-1/300").exact).toBe("≈ -0.00333333333 wei");
    expect(wei("9999999").text).toBe("9,999,999 wei");
    expect(wei("not a number")).toEqual({ text: "—", exact: "not reported" });
  });

  test("a summed EV's ~170-digit fraction reads as a short decimal, on the card and in its tooltip", () => {
    // As the recorder sums EVs of different tickets: denominators multiply (2^256 · 3^…, 170 digits).
    const den = 2n ** 256n * 3n ** 195n;
    const num = (den * 123_456_789_012_345n) / 1000n + 7n; // ≈ 123.5 gwei, not a whole number of wei
    const evWei = `${num}/${den}`;
    expect(evWei.length).toBeGreaterThan(340);
    const shown = wei(evWei);
    expect(shown.text).toBe("123.4 gwei");
    expect(shown.exact).toBe("≈ 123,456,789,012 wei");
    // Below one wei: enough decimals for nine significant digits, and never more than 30.
    expect(wei(`${den / 7n}/${den * 1000n}`).exact).toBe("≈ 0.000142857142 wei");
    expect(wei(`1/${den}`).exact).toBe("≈ 0 wei");
    expect(significant(2n, 3n, 4)).toBe("0.6666");
    expect(significant(1_234_567n, 1n, 4)).toBe("1,234,567");
  });

  test("the legend's numbers are the chart's: sums over the buckets shown, not since start", () => {
    const bucket = (paid: bigint, refresh: bigint) => ({
      payments: { paid, nothingDue: 0n, refresh, priceExceeded: 0n, clientError: 0n, unavailable: 0n, internalError: 1n },
    });
    const totals = windowTotals([bucket(3n, 0n), { payments: undefined }, bucket(4n, 2n)]);
    expect(totals).toEqual({ paid: 7n, nothingDue: 0n, refresh: 2n, priceExceeded: 0n, clientError: 0n, unavailable: 0n, internalError: 2n });
    expect(windowTotals([]).paid).toBe(0n);
  });

  test("rationals, decimals, counts, ratios, durations, latencies, networks", () => {
    expect(parseRat("6/4")).toEqual({ num: 6n, den: 4n });
    expect(parseRat("1/0")).toBeUndefined();
    expect(decimal(1234567n, 1000n, 2)).toBe("1,234.56");
    expect(decimal(-5n, 2n, 1)).toBe("-2.5");
    expect(count(999_999)).toEqual({ text: "999,999", exact: "999,999" });
    expect(count(12_345_678n)).toEqual({ text: "12.3M", exact: "12,345,678" });
    expect(ratio("10000000000000000000", "20000000000000").text).toBe("500,000×");
    expect(ratio("1", "0").text).toBe("—");
    expect(duration(65_000)).toBe("1 min 5 s");
    expect(duration(3 * 86_400_000)).toBe("3 d 0 h");
    expect(latencyPair(0.668, 21.4)).toBe("0.67 / 21 ms");
    expect(latencyPair(1.25, 3.5)).toBe("1.3 / 3.5 ms");
    expect(latencyPair(0.5, 0.9)).toBe("500 / 900 µs");
    expect(latencyPair(0, 0)).toBe("—");
    expect(networkName(42161n, false)).toBe("Arbitrum One (42161)");
    expect(networkName(1337n, true)).toBe("development chain (1337)");
  });
});
