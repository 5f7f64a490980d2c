/**
 * The dashboard with a USD ceiling (Chromium): the ceiling in force in wei with its currency, the
 * ETH rate and its age; when the rate goes stale, the ceiling shows no usable rate and the warning
 * banner says payments under it are refused; it clears when the rate is fresh again.
 */
import type { Browser } from "playwright-core";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createActivityRecorder } from "../src/activity/recorder.js";
import { signOrchestratorInfo } from "../src/crypto/eth-sign.js";
import { relayedPriceFeed, type PriceFeedState } from "../src/pricing/price-feed.js";
import { createPriceLimits, withRate } from "../src/pricing/price-limits.js";
import { createSignerServer, type SignerServer } from "../src/server/create-server.js";
import { createSignerMetrics } from "../src/server/metrics.js";
import { createSignerStatus } from "../src/service/signer-status.js";
import { chromiumMissing, launchChromium } from "./support/browser.js";
import { testDeps } from "./support/fixtures.js";

const noChromium = chromiumMissing();
const ADDRESS = "0x639Fe6ab55C921f74e7fac1ee960C0B6293ba612";
const fresh = (): PriceFeedState => ({
  address: ADDRESS,
  description: "ETH / USD",
  round: { roundId: 7n, answer: 3456_78901234n, decimals: 8, updatedAt: BigInt(Math.floor(Date.now() / 1000)) - 90n },
  readAt: Date.now(),
  error: undefined,
});
const feed = relayedPriceFeed(fresh(), 3_600_000);
let browser: Browser;
let server: SignerServer;
let port: number;
let activity: ReturnType<typeof createActivityRecorder>;

beforeAll(async () => {
  if (noChromium) return;
  const prices = withRate(createPriceLimits({ maxPricePerUnit: "0.01USD", pixelsPerUnit: "1", maxPricePerCapability: "" }), feed);
  const t = testDeps({ prices });
  const metrics = createSignerMetrics();
  activity = createActivityRecorder(metrics);
  server = createSignerServer({
    service: {
      payments: t.deps,
      orchInfoSignature: signOrchestratorInfo(t.signer),
      status: createSignerStatus({ signer: t.signer, chain: t.deps.chain, limits: t.deps.limits, prices, priceFeed: feed, webhookConfigured: false, version: "test" }),
      activity,
    },
    legacy: {},
    logger: pino({ level: "silent" }),
    metrics,
    priceFeed: { feed, prices },
  });
  ({ port } = await server.listen("127.0.0.1", 0));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  activity?.close();
  await server?.close(200);
});

describe.skipIf(noChromium)("the dashboard with -maxPricePerUnit 0.01USD", () => {
  test("shows the ceiling in force and the rate; a stale rate is a warning until it is fresh again", async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${port}/dashboard/`);
      // 0.01 USD at 3456.78901234 USD per ETH: 500000000000000000000000/172839450617 wei ≈ 2.89 Twei.
      await expect.poll(() => page.getByTestId("max-price").textContent(), { timeout: 5000 }).toMatch(/ \/ unit \(USD\)$/);
      expect(await page.getByTestId("max-price").getAttribute("title")).toMatch(/ wei; configured 1\/100 USD per unit, at the feed's rate$/);
      expect(await page.getByTestId("price-feed").textContent()).toMatch(/^3,456\.79 ETH \/ USD, 1 min 3\d s old$/);
      expect(await page.getByTestId("stale").isVisible()).toBe(false);

      feed.update({ ...fresh(), round: { ...fresh().round!, updatedAt: BigInt(Math.floor(Date.now() / 1000)) - 7200n } });
      await expect.poll(() => page.getByTestId("max-price").textContent(), { timeout: 5000 }).toBe("USD ceiling: no usable rate");
      expect(await page.getByTestId("price-feed").getAttribute("class")).toContain("warn-text");
      const warning = await page.getByTestId("stale").textContent();
      expect(warning).toMatch(new RegExp(`No usable ETH rate \\(price feed ${ADDRESS} stale: rate updated 720\\ds ago \\(limit 3600s\\)\\)`));
      expect(warning).toContain("payments under a USD ceiling are refused");

      feed.update(fresh());
      await expect.poll(() => page.getByTestId("stale").isVisible(), { timeout: 5000 }).toBe(false);
      expect(await page.getByTestId("max-price").textContent()).toMatch(/ \/ unit \(USD\)$/);
    } finally {
      await page.close();
    }
  }, 30_000);
});
