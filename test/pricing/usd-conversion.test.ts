/**
 * USD ceilings converted exactly as go-livepeer converts them. The reference (master):
 *   eth/pricefeed.go computePriceData:          price = answer / 10^decimals          (big.Rat SetFrac)
 *   core/autoconvertedprice.go currencyToWeiMultiplier:
 *                                               m = (base == "ETH" ? 1/price : price) × 10^18
 *   cmd/livepeer/starter (broadcaster config):  pricePerPixel = maxPricePerUnit / pixelsPerUnit
 *   core/autoconvertedprice.go NewAutoConvertedPrice: ceiling = pricePerPixel × m
 * all big.Rat, never rounded. So for an "ETH / USD" feed:
 *   ceiling (wei per pixel) = price × 10^18 × 10^decimals / (pixelsPerUnit × answer), in lowest terms.
 * The expected values below were worked out with exact fractions from that formula, independently
 * of lpsigner's Rat (and checked again here with plain bigint arithmetic).
 */
import { describe, expect, test } from "vitest";
import { Rat } from "../../src/math/rat.js";
import { capabilityMaxPrice, configuredMaxPrice, createPriceLimits, globalMaxPrice, PriceConfigError, withRate } from "../../src/pricing/price-limits.js";
import { feedRate, PriceFeedUnavailableError, type PriceFeedState } from "../../src/pricing/price-feed.js";
import { feedMismatch, weiPerCurrencyUnit } from "../../src/pricing/usd-conversion.js";
import { create } from "@bufbuild/protobuf";
import { CapabilitiesSchema, Capabilities_CapabilityConstraintsSchema } from "../../gen/net/lp_rpc_pb.js";

const NOW_S = 1_800_000_000n;
const feedState = (answer: bigint, decimals: number, description = "ETH / USD", updatedAt = NOW_S): PriceFeedState => ({
  address: "0x639Fe6ab55C921f74e7fac1ee960C0B6293ba612",
  description,
  round: { roundId: 1n, answer, decimals, updatedAt },
  readAt: Number(NOW_S) * 1000,
  error: undefined,
});
const rateOf = (state: PriceFeedState, maxAgeMs = 3_600_000) => ({ weiPer: (c: string) => feedRate(state, c, Number(NOW_S) * 1000, maxAgeMs) });

/** The reference's formula in plain bigints: price "a.b" per ppu pixels, ETH-based feed. */
function referenceCeiling(price: string, ppu: bigint, answer: bigint, decimals: number, ethBase = true): string {
  const [int, frac = ""] = price.split(".");
  const priceNum = BigInt(int! + frac);
  const priceDen = 10n ** BigInt(frac.length);
  let num = priceNum * 10n ** 18n * (ethBase ? 10n ** BigInt(decimals) : answer);
  let den = priceDen * ppu * (ethBase ? answer : 10n ** BigInt(decimals));
  const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));
  const g = gcd(num, den);
  num /= g;
  den /= g;
  return den === 1n ? `${num}` : `${num}/${den}`;
}

// [maxPricePerUnit, pixelsPerUnit, feed answer, decimals, description, expected wei per pixel]
const table: [string, bigint, bigint, number, string, string][] = [
  ["0.01", 1n, 3000_00000000n, 8, "ETH / USD", "10000000000000/3"],
  ["0.01", 1n, 3456_78901234n, 8, "ETH / USD", "500000000000000000000000/172839450617"],
  ["1.23", 7n, 1234_56789012n, 8, "ETH / USD", "10250000000000000000000000/72016460257"],
  ["0.5", 1_000_000n, 3000_00000000n, 8, "ETH / USD", "500000000/3"],
  ["0.01", 1n, 3000_500000000000000000n, 18, "ETH / USD", "20000000000000000/6001"],
  ["0.01", 1n, 2718_281828459045235360n, 18, "ETH / USD", "62500000000000000000000000000000/16989261427869032721"],
  // A feed quoted the other way ("USD / ETH": ETH per USD) is not inverted.
  ["0.01", 1n, 333333333333333n, 18, "USD / ETH", "333333333333333/100"],
];

describe("USD → wei, the reference's exact rationals", () => {
  test.each(table)("%sUSD per %i pixels at answer %i (decimals %i, %s) = %s wei per pixel", (price, ppu, answer, decimals, description, expected) => {
    const ethBase = description.startsWith("ETH");
    expect(referenceCeiling(price, ppu, answer, decimals, ethBase)).toBe(expected);
    const limits = withRate(createPriceLimits({ maxPricePerUnit: `${price}USD`, pixelsPerUnit: `${ppu}`, maxPricePerCapability: "" }), rateOf(feedState(answer, decimals, description)));
    expect(globalMaxPrice(limits)!.toString()).toBe(expected);
  });

  test("the ceiling is exact: an orchestrator price equal to it passes, one wei per 10^30 pixels more does not", () => {
    const limits = withRate(createPriceLimits({ maxPricePerUnit: "0.01USD", pixelsPerUnit: "1", maxPricePerCapability: "" }), rateOf(feedState(3456_78901234n, 8)));
    const ceiling = globalMaxPrice(limits)!;
    expect(new Rat(500000000000000000000000n, 172839450617n).cmp(ceiling)).toBe(0);
    expect(ceiling.add(new Rat(1n, 10n ** 30n)).cmp(ceiling)).toBe(1);
    // Floating point would have called these equal.
    expect(Number(ceiling.toFixed(3))).toBe(Number(ceiling.add(new Rat(1n, 10n ** 30n)).toFixed(3)));
  });

  test("wei per USD for the feeds themselves", () => {
    expect(weiPerCurrencyUnit({ answer: 3000_00000000n, decimals: 8 }, "ETH").toString()).toBe("1000000000000000/3");
    expect(weiPerCurrencyUnit({ answer: 333333333333333n, decimals: 18 }, "USD").toString()).toBe("333333333333333");
    expect(() => weiPerCurrencyUnit({ answer: 0n, decimals: 8 }, "ETH")).toThrow(RangeError);
  });

  test("wei and ETH ceilings need no feed; currency names are case-insensitive", () => {
    const fixed = createPriceLimits({ maxPricePerUnit: "0.000001ETH", pixelsPerUnit: "4", maxPricePerCapability: "" });
    expect(globalMaxPrice(fixed)!.toString()).toBe("250000000000");
    expect(createPriceLimits({ maxPricePerUnit: "1200WEI", pixelsPerUnit: "1", maxPricePerCapability: "" }).maxPrice).toEqual({ perPixel: new Rat(1200n), currency: "" });
    const usd = withRate(createPriceLimits({ maxPricePerUnit: "0.01usd", pixelsPerUnit: "1", maxPricePerCapability: "" }), rateOf(feedState(3000_00000000n, 8)));
    expect(globalMaxPrice(usd)!.toString()).toBe("10000000000000/3");
    expect(() => createPriceLimits({ maxPricePerUnit: "USD0.01", pixelsPerUnit: "1", maxPricePerCapability: "" })).toThrow(PriceConfigError);
  });
});

describe("per-capability USD ceilings", () => {
  const LV2V = 35;
  const caps = (models: Record<number, string[]>) =>
    create(CapabilitiesSchema, {
      constraints: {
        PerCapability: Object.fromEntries(
          Object.entries(models).map(([cap, ids]) => [cap, create(Capabilities_CapabilityConstraintsSchema, { models: Object.fromEntries(ids.map((id) => [id, {}])) })]),
        ),
      },
    });
  const json = JSON.stringify({
    capabilities_prices: [
      { pipeline: "live-video-to-video", model_id: "streamdiffusion", price_per_unit: 0.02, pixels_per_unit: 1, currency: "USD" },
      { pipeline: "live-video-to-video", model_id: "comfystream", price_per_unit: 1500, pixels_per_unit: 1 },
      // No price: the reference takes -maxPricePerUnit's number with this entry's currency (USD here).
      { pipeline: "text-to-image", model_id: "default", currency: "USD" },
    ],
  });
  const limits = withRate(createPriceLimits({ maxPricePerUnit: "0.01USD", pixelsPerUnit: "1", maxPricePerCapability: json }), rateOf(feedState(3000_00000000n, 8)));

  test("each is converted at the current rate; wei entries stay wei", () => {
    expect(capabilityMaxPrice(limits, LV2V, "streamdiffusion")!.toString()).toBe("20000000000000/3");
    expect(capabilityMaxPrice(limits, LV2V, "comfystream")!.toString()).toBe("1500");
    expect(capabilityMaxPrice(limits, 27, "any-model")!.toString()).toBe("10000000000000/3");
    // The request's ceiling is the sum over its (capability, model) pairs, as GetCapabilitiesMaxPrice.
    expect(configuredMaxPrice(limits, caps({ [LV2V]: ["streamdiffusion", "comfystream"] }))!.toString()).toBe("20000000004500/3");
    expect(configuredMaxPrice(limits, undefined)!.toString()).toBe("10000000000000/3");
  });

  test("with no usable rate only the ceilings that need it fail", () => {
    const stale = withRate(limits, rateOf(feedState(3000_00000000n, 8, "ETH / USD", NOW_S - 7200n)));
    expect(capabilityMaxPrice(stale, LV2V, "comfystream")!.toString()).toBe("1500");
    expect(() => configuredMaxPrice(stale, caps({ [LV2V]: ["streamdiffusion"] }))).toThrow(PriceFeedUnavailableError);
    expect(() => configuredMaxPrice(stale, caps({ [LV2V]: ["streamdiffusion"] }))).toThrow(/stale: rate updated 7200s ago \(limit 3600s\)/);
    const wrongFeed = withRate(limits, rateOf(feedState(3000_00000000n, 8, "BTC / EUR")));
    expect(() => globalMaxPrice(wrongFeed)).toThrow("price feed does not have ETH as a currency (BTC/EUR)");
  });

  test("a feed that does not quote ETH against the currency is refused, as by the reference at start-up", () => {
    expect(feedMismatch("ETH / USD", "usd")).toBeUndefined();
    expect(feedMismatch("USD / ETH", "USD")).toBeUndefined();
    expect(feedMismatch("ETH / EUR", "USD")).toBe("price feed does not have USD as a currency (ETH/EUR)");
    expect(feedMismatch("ETHUSD", "USD")).toMatch(/BASE \/ QUOTE/);
  });
});
