/** The USD ceiling flags as loadConfig reads them: a feed only when a ceiling needs one, checked. */
import { expect, test } from "vitest";
import { ConfigError, loadConfig, parseFlags } from "../../src/config.js";

const load = (args: string[]) => loadConfig(parseFlags(args)!, {});

test("a USD ceiling asks for the feed, with go-livepeer's default address left to the chain; wei and ETH ceilings do not", () => {
  expect(load(["-maxPricePerUnit", "0.01USD"]).priceFeed).toEqual({ address: "", maxAgeMs: 25 * 3600_000, intervalMs: 60_000 });
  const perCap = JSON.stringify({ capabilities_prices: [{ pipeline: "live-video-to-video", price_per_unit: 0.5, currency: "usd" }] });
  expect(load(["-maxPricePerCapability", perCap, "-priceFeedMaxAge", "2h", "-priceFeedPollInterval", "10s"]).priceFeed).toEqual({
    address: "",
    maxAgeMs: 2 * 3600_000,
    intervalMs: 10_000,
  });
  expect(load(["-maxPricePerUnit", "1200"]).priceFeed).toBeUndefined();
  expect(load(["-maxPricePerUnit", "0.5ETH", "-priceFeedAddr", "0x639fe6ab55c921f74e7fac1ee960c0b6293ba612"]).priceFeed).toBeUndefined();
  expect(load(["-maxPricePerUnit", "1USD", "-priceFeedAddr", "0x639fe6ab55c921f74e7fac1ee960c0b6293ba612"]).priceFeed?.address).toBe(
    "0x639Fe6ab55C921f74e7fac1ee960C0B6293ba612",
  );
});

test("a bad feed address, age or interval is a configuration error", () => {
  expect(() => load(["-maxPricePerUnit", "1USD", "-priceFeedAddr", "0x1234"])).toThrow(ConfigError);
  expect(() => load(["-maxPricePerUnit", "1USD", "-priceFeedAddr", "0x1234"])).toThrow('-priceFeedAddr: not an address: "0x1234"');
  expect(() => load(["-maxPricePerUnit", "1USD", "-priceFeedMaxAge", "0s"])).toThrow(ConfigError);
  expect(() => load(["-maxPricePerUnit", "1USD", "-priceFeedPollInterval", "soon"])).toThrow(ConfigError);
  const badCurrency = JSON.stringify({ capabilities_prices: [{ pipeline: "live-video-to-video", price_per_unit: 1, currency: "US$" }] });
  expect(() => load(["-maxPricePerCapability", badCurrency])).toThrow("-maxPricePerCapability[0]: currency must be a name such as wei, ETH or USD");
});
