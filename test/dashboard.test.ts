/**
 * The operator dashboard in a real browser (playwright-core driving Debian's Chromium) against
 * a signer on loopback: it shows the signer's address, follows legacy and Connect payments
 * within seconds, talks gRPC-web only, keeps to its CSP, survives a narrow window, and shows
 * "disconnected, retrying" while the signer is down, then recovers by itself.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SignerService } from "../gen/livepeer/signer/v1/signer_pb.js";
import { DASHBOARD_CSP } from "../src/dashboard/serve-dashboard.js";
import { chromiumMissing, launchChromium } from "./support/browser.js";
import { orchestratorInfo, testDeps } from "./support/fixtures.js";
import { gatewayPaymentBody, paymentRequest, rawRequest, startTestServer, testStatus, type RunningTestServer } from "./support/net-server.js";
import { pino } from "pino";
import { createActivityRecorder } from "../src/activity/recorder.js";
import { createStaticChainView } from "../src/chain/chain-view.js";
import { signOrchestratorInfo } from "../src/crypto/eth-sign.js";
import { createSignerServer } from "../src/server/create-server.js";
import { createSignerMetrics } from "../src/server/metrics.js";
import { createSignerStatus } from "../src/service/signer-status.js";
import { createPriceLimits } from "../src/pricing/price-limits.js";
import { CHAIN } from "./support/fixtures.js";

let srv: RunningTestServer;
let browser: Browser;
let page: Page;
const deps = testDeps();
/** Content types of the page's SignerService calls. */
const rpcContentTypes: string[] = [];
const consoleErrors: string[] = [];
const noChromium = chromiumMissing();

beforeAll(async () => {
  srv = await startTestServer({ deps });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("request", (r) => {
    if (r.url().includes("/livepeer.signer.v1.SignerService/")) rpcContentTypes.push(r.headers()["content-type"] ?? "");
  });
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
});

afterAll(async () => {
  await browser?.close();
  await srv?.close(200);
});

const text = (testId: string) => page.getByTestId(testId).textContent();
const outcome = (key: string) => page.locator(`[data-outcome="${key}"] .count`).textContent();

describe.skipIf(noChromium)("the dashboard in Chromium", () => {
  test("/ redirects to /dashboard/, served with a strict CSP; the address shown is SignOrchestratorInfo's", async () => {
    const res = await page.goto(`${srv.url}/`);
    expect(page.url()).toBe(`${srv.url}/dashboard/`);
    expect(res?.headers()["content-security-policy"]).toBe(DASHBOARD_CSP);
    const client = createClient(SignerService, createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1" }));
    const { addressHex } = await client.signOrchestratorInfo({});
    await expect.poll(() => text("signer-address"), { timeout: 5000 }).toBe(addressHex);
    // Where the key is (GetSignerStatus.key_backend), never what identifies it.
    expect(await text("key-backend")).toBe("keystore (in the signer's memory)");
    await expect.poll(() => text("connection")).toBe("live");
    expect(await text("tickets-signed")).toBe("0");
  });

  test("legacy and Connect payments show up within 5 s", async () => {
    const legacy = await rawRequest(`${srv.url}/generate-live-payment`, { method: "POST", body: gatewayPaymentBody(orchestratorInfo()) });
    expect(legacy.status).toBe(200);
    const client = createClient(SignerService, createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1" }));
    const paid = await client.generateLivePayment(paymentRequest(orchestratorInfo()));
    await expect(
      client.generateLivePayment(
        paymentRequest(orchestratorInfo({ pricePerUnit: 3n }), { maxPrice: { price: "1", currency: "wei", unit: "720p-pixel-seconds" } }),
      ),
    ).rejects.toThrow(/exceeds/);
    const tickets = srv.activity.snapshot().ticketsSigned;
    expect(tickets).toBeGreaterThanOrEqual(paid.numTickets + 1);
    const started = Date.now();
    await expect.poll(() => text("tickets-signed"), { timeout: 5000 }).toBe(String(tickets));
    await expect.poll(() => outcome("paid"), { timeout: 5000 }).toBe("2");
    await expect.poll(() => outcome("priceExceeded"), { timeout: 5000 }).toBe("1");
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await outcome("refresh")).toBe("0");
    expect(await text("active-sessions")).toBe("2");
    // The chart drew the calls: bars in the current bucket.
    expect(await page.locator("#chart rect.o-paid").count()).toBeGreaterThan(0);
    // Face value with its exact value on hover; EV (a fraction of 2^256) as a short decimal.
    const face = page.locator('[data-field="faceValue"]');
    expect(await face.getAttribute("title")).toMatch(/^[\d,]+ wei$/);
    expect(srv.activity.snapshot().ev.den).toBeGreaterThan(1n);
    expect(await page.locator('[data-field="ev"]').getAttribute("title")).toMatch(/^≈ [\d,]+(\.\d+)? wei$/);
    // The legend counts the chart's window, and says so; since start is in its tooltip.
    expect(await page.locator('[data-outcome="paid"] .count').getAttribute("title")).toBe("2 in the last 5 min; 2 since start");
  });

  test("every RPC the page made was gRPC-web, and nothing broke the CSP", () => {
    expect(rpcContentTypes.length).toBeGreaterThan(0);
    for (const ct of rpcContentTypes) expect(ct).toMatch(/^application\/grpc-web(\+proto)?$/);
    expect(consoleErrors.filter((e) => /Content Security Policy|Refused to/i.test(e))).toEqual([]);
  });

  test("fits a narrow window without sideways scrolling", async () => {
    await page.setViewportSize({ width: 360, height: 800 });
    // Runs in the page (a string: this file is type-checked without the DOM library).
    await expect.poll(() => page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")).toBe(true);
    expect(await page.getByTestId("signer-address").isVisible()).toBe(true);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test("shows disconnected while the signer is down, and recovers by itself when it is back", async () => {
    const port = srv.port;
    await srv.close(200);
    await expect.poll(() => page.getByTestId("offline").isVisible(), { timeout: 5000 }).toBe(true);
    expect(await text("offline")).toMatch(/^Disconnected from the signer, retrying in \d+ s/);
    expect(await text("connection")).toBe("disconnected");
    srv = await startTestServer({ deps, port });
    await expect.poll(() => page.getByTestId("offline").isVisible(), { timeout: 12_000 }).toBe(false);
    expect(await text("connection")).toBe("live");
    // A new signer process: its counters start again.
    await expect.poll(() => text("tickets-signed"), { timeout: 5000 }).toBe("0");
    expect(await text("signer-address")).toBe(deps.signer.addressHex);
  });
});

describe.skipIf(noChromium)("the dashboard's warnings and ceilings", () => {
  test("a stale chain view and an unfunded signer are shown as such, with the configured price ceilings", async () => {
    // A chain view that has gone stale, for a signer whose reserve is empty, and the status the
    // signer builds from it (startTestServer's status is a fixed one).
    const base = createStaticChainView({ ...CHAIN, sender: { ...CHAIN.sender, reserve: 0n } });
    const chain = { ...base, status: () => ({ ...base.status(), ageMs: 125_000, stale: true }) };
    const prices = createPriceLimits({
      maxPricePerUnit: "1200",
      pixelsPerUnit: "1",
      maxPricePerCapability: JSON.stringify({
        capabilities_prices: [{ pipeline: "live-video-to-video", model_id: "streamdiffusion", price_per_unit: 2500, pixels_per_unit: 1 }],
      }),
    });
    const t = testDeps({ chain, prices });
    const metrics = createSignerMetrics();
    const activity = createActivityRecorder(metrics);
    const server = createSignerServer({
      service: {
        payments: t.deps,
        orchInfoSignature: signOrchestratorInfo(t.signer),
        status: createSignerStatus({ signer: t.signer, chain, limits: t.deps.limits, prices: t.deps.prices, webhookConfigured: false, version: "test" }),
        activity,
      },
      legacy: {},
      logger: pino({ level: "silent" }),
      metrics,
    });
    const { port } = await server.listen("127.0.0.1", 0);
    const warnPage = await browser.newPage();
    try {
      await warnPage.goto(`http://127.0.0.1:${port}/dashboard/`);
      await expect.poll(() => warnPage.getByTestId("stale").isVisible(), { timeout: 5000 }).toBe(true);
      const warning = await warnPage.getByTestId("stale").textContent();
      expect(warning).toContain("Chain view is stale (2 min 5 s old)");
      expect(warning).toContain("no sender reserve");
      expect(await warnPage.locator('[data-field="age"]').getAttribute("class")).toContain("warn-text");
      expect(await warnPage.locator('[data-field="maxPrice"]').textContent()).toBe("1,200 wei / unit");
      expect(await warnPage.getByTestId("capability-ceilings").textContent()).toBe("live-video-to-video/streamdiffusion ≤ 2,500 wei");
      expect(await warnPage.getByTestId("capability-ceilings").getAttribute("title")).toBe(
        "live-video-to-video streamdiffusion: 2,500 wei per unit",
      );
    } finally {
      await warnPage.close();
      activity.close();
      await server.close(200);
    }
  });
});

describe.skipIf(noChromium)("discovered orchestrators on a phone", () => {
  test("at 390 px the table scrolls sideways with a caption and a faded edge saying so; at 1280 px neither", async () => {
    const t = testDeps();
    const metrics = createSignerMetrics();
    const activity = createActivityRecorder(metrics);
    const capability = { key: "live-video-to-video/streamdiffusion", pipeline: "live-video-to-video", modelId: "streamdiffusion", pricePerUnit: 2500n, pixelsPerUnit: 1n };
    const snapshot = {
      snapshotTime: timestampNow(),
      orchestrators: [1, 2, 3].map((i) => ({
        url: `https://orchestrator-${i}.example.com:8935`,
        ethAddress: new Uint8Array(20).fill(i),
        priceInfo: { pricePerUnit: 1200n, pixelsPerUnit: 1n },
        capabilities: [capability, { ...capability, key: "live-video-to-video/comfyui", modelId: "comfyui" }],
        lastSeen: timestampNow(),
      })),
    };
    const server = createSignerServer({
      service: {
        payments: t.deps,
        orchInfoSignature: signOrchestratorInfo(t.signer),
        status: testStatus(t),
        activity,
        discovery: { select: () => snapshot, subscribe: () => () => {} },
      },
      legacy: {},
      logger: pino({ level: "silent" }),
      metrics,
    });
    const { port } = await server.listen("127.0.0.1", 0);
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
    try {
      await phone.goto(`http://127.0.0.1:${port}/dashboard/`);
      await expect.poll(() => phone.locator("#orchestrators tr").count(), { timeout: 5000 }).toBe(3);
      // The page itself does not scroll sideways; the table inside its card does.
      expect(await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")).toBe(true);
      expect(await phone.evaluate("(w => w.scrollWidth > w.clientWidth)(document.getElementById('table-wrap'))")).toBe(true);
      await expect.poll(() => phone.getByTestId("scroll-hint").isVisible()).toBe(true);
      expect(await phone.getByTestId("scroll-hint").textContent()).toMatch(/scroll sideways/);
      // The right edge fades while columns hide there; scrolled to the end, the left edge does.
      const fade = (side: "before" | "after") =>
        phone.evaluate(`getComputedStyle(document.getElementById('table-scroll'), '::${side}').opacity`);
      await expect.poll(() => fade("after")).toBe("1");
      expect(await fade("before")).toBe("0");
      await phone.evaluate("(w => { w.scrollLeft = w.scrollWidth })(document.getElementById('table-wrap'))");
      await expect.poll(() => fade("before")).toBe("1");
      await expect.poll(() => fade("after")).toBe("0");
      // Wide enough for the whole table: no caption, no fade.
      await phone.setViewportSize({ width: 1280, height: 900 });
      await expect.poll(() => phone.getByTestId("scroll-hint").isVisible()).toBe(false);
      // (opacity fades over 0.2 s, hence the polls)
      await expect.poll(() => fade("after")).toBe("0");
      await expect.poll(() => fade("before")).toBe("0");
    } finally {
      await phone.close();
      activity.close();
      await server.close(200);
    }
  });
});
