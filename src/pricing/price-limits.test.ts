import { describe, expect, test } from "vitest";
import { createPriceLimits, PriceConfigError } from "./price-limits.js";

const limits = (o: { maxPricePerUnit?: string; pixelsPerUnit?: string; maxPricePerCapability?: string }) =>
  createPriceLimits({ maxPricePerUnit: o.maxPricePerUnit ?? "0", pixelsPerUnit: o.pixelsPerUnit ?? "1", maxPricePerCapability: o.maxPricePerCapability ?? "" });

describe("price flags: decimals are bounded before they are parsed (issue 11 item 2)", () => {
  const huge = "1" + "0".repeat(200_000);
  const cases: [string, () => unknown, string][] = [
    ["-maxPricePerUnit", () => limits({ maxPricePerUnit: huge }), "-maxPricePerUnit must be at most 100 characters"],
    ["-pixelsPerUnit", () => limits({ pixelsPerUnit: huge }), "-pixelsPerUnit must be at most 100 characters"],
    [
      "-maxPricePerCapability price_per_unit",
      () => limits({ maxPricePerCapability: JSON.stringify({ capabilities_prices: [{ pipeline: "live-video-to-video", price_per_unit: huge }] }) }),
      "-maxPricePerCapability: capabilities_prices[0].price_per_unit must be at most 100 characters",
    ],
  ];
  test.each(cases)("%s", (_name, fn, message) => {
    const started = performance.now();
    expect(fn).toThrow(PriceConfigError);
    expect(fn).toThrow(message);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test("values within the bounds are read as before", () => {
    expect(limits({ maxPricePerUnit: "1200wei", pixelsPerUnit: "3" }).maxPrice?.perPixel.toString()).toBe("400");
  });
});
