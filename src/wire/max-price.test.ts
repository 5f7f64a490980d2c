import { afterEach, describe, expect, test, vi } from "vitest";
import { DECIMAL_LIMITS, Rat } from "../math/rat.js";
import { parseMaxPrice, type MaxPriceCheck } from "./max-price.js";

/** The ceiling's text, or the refusal's message. */
const shown = (c: MaxPriceCheck) => (c.ok ? c.price.toString() : `refused: ${c.message}`);
const lv2v = (price: string, currency = "wei", unit = "720p-pixel-seconds") => parseMaxPrice({ price, currency, unit }, "lv2v");
const refusal = (fn: () => MaxPriceCheck) => {
  const c = fn();
  return c.ok ? "accepted" : c.message;
};

afterEach(() => vi.restoreAllMocks());

describe("parseMaxPrice: accepted as big.Rat.SetString reads it", () => {
  const cases: [string, string, string][] = [
    ["integer", "1200", "1200"],
    ["decimal", "0.5", "1/2"],
    ["fraction", "1/3", "1/3"],
    ["exponent", "15e-1", "3/2"],
    ["Go white space around (U+0085, U+3000)", "\u0085 7\u3000", "7"],
    ["80 significant digits (leading zeros are not)", "0.000" + "9".repeat(80), `${"9".repeat(80)}/1${"0".repeat(83)}`],
    ["exponent at the bound", "1e100", "1" + "0".repeat(100)],
  ];
  test.each(cases)("%s", (_name, price, expected) => {
    expect(shown(lv2v(price))).toBe(expected);
  });
  test("currency and unit: Go's TrimSpace and case-insensitive; the unit follows the job type", () => {
    expect(shown(parseMaxPrice({ price: "1", currency: " WEI\n", unit: "Seconds" }, "live"))).toBe("1");
    expect(shown(parseMaxPrice({ price: "1", currency: "wei", unit: "fixed" }, "fixed"))).toBe("1");
  });
});

describe("parseMaxPrice: refused with a message naming the field", () => {
  const { maxChars, maxDigits, maxExponent } = DECIMAL_LIMITS;
  const cases: [string, () => MaxPriceCheck, string][] = [
    ["zero", () => lv2v("0"), "maxPrice.price must be a positive decimal"],
    ["negative", () => lv2v("-1"), "maxPrice.price must be a positive decimal"],
    ["not a number", () => lv2v("abc"), "maxPrice.price must be a positive decimal"],
    ["empty", () => lv2v(""), "maxPrice.price must be a positive decimal"],
    ["U+FEFF is not white space in Go", () => lv2v("\ufeff1"), "maxPrice.price must be a positive decimal"],
    ["currency", () => lv2v("1", "usd"), "maxPrice.currency must be wei"],
    ["unit", () => lv2v("1", "wei", "seconds"), "maxPrice.unit must be 720p-pixel-seconds for payment type lv2v"],
    ["job type", () => parseMaxPrice({ price: "1", currency: "wei", unit: "seconds" }, ""), "maxPrice requires payment type live, lv2v, or fixed"],
    ["too long", () => lv2v("1".padEnd(maxChars + 1, "0")), `maxPrice.price must be at most ${maxChars} characters`],
    ["too many digits", () => lv2v("1." + "1".repeat(maxDigits)), `maxPrice.price must have at most ${maxDigits} significant digits`],
    ["too many digits in a fraction's denominator", () => lv2v("1/" + "3".repeat(maxDigits + 1)), `maxPrice.price must have at most ${maxDigits} significant digits`],
    ["exponent too large", () => lv2v(`1e${maxExponent + 1}`), `maxPrice.price must have an exponent within ±${maxExponent}`],
    ["exponent too small", () => lv2v(`1e-${maxExponent + 1}`), `maxPrice.price must have an exponent within ±${maxExponent}`],
  ];
  test.each(cases)("%s", (_name, fn, expected) => {
    expect(refusal(fn)).toBe(expected);
  });

  test('"1." + 200k digits is refused by the size bound, before any big-number parsing', () => {
    const parse = vi.spyOn(Rat, "parse");
    const started = performance.now();
    expect(refusal(() => lv2v("1." + "7".repeat(200_000)))).toBe(`maxPrice.price must be at most ${maxChars} characters`);
    expect(refusal(() => lv2v("1." + "7".repeat(maxChars - 2) + "\u3000".repeat(200_000)))).toBe(
      `maxPrice.price must have at most ${maxDigits} significant digits`,
    );
    expect(performance.now() - started).toBeLessThan(1000);
    expect(parse).not.toHaveBeenCalled();
  });
});
