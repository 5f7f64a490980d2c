/**
 * npm run screenshot: starts a signer as `npm start` does (development chain), drives a mix of
 * gateway sessions against it over Connect and the legacy endpoint (paid, nothing due, refresh,
 * price exceeded, client errors) for a while, then photographs the dashboard in headless
 * Chromium (the browser test's launcher) into docs/dashboard.png.
 *
 *   npm run screenshot -- [--seconds 75] [--out docs/dashboard.png] [--width 1280]
 *
 * --width 390 shows the page as a phone does (the orchestrator table then scrolls sideways).
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { JobType, SignerService, type SignerState } from "../gen/livepeer/signer/v1/signer_pb.js";
import { loadConfig, parseFlags } from "../src/config.js";
import { startSigner } from "../src/start-signer.js";
import { launchChromium } from "../test/support/browser.js";
import { orchestratorInfo, testOrchestrator } from "../test/support/fixtures.js";
import { gatewayPaymentBody, paymentRequest, rawRequest } from "../test/support/net-server.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "75" },
    out: { type: "string", default: "docs/dashboard.png" },
    width: { type: "string", default: "1280" },
  },
});
const out = resolve(values.out);
const seconds = Number(values.seconds);

const signer = await startSigner(loadConfig(parseFlags(["-httpAddr", "127.0.0.1:0"])!), pino({ level: "silent" }));
console.log(`signer ${signer.address} at ${signer.url}; traffic for ${seconds} s`);
const client = createClient(SignerService, createConnectTransport({ baseUrl: signer.url, httpVersion: "1.1" }));

/** One gateway session: live video, one call a second, params whose EV changes now and then. */
async function connectSession(stopAt: number) {
  const orch = testOrchestrator();
  let state: SignerState | undefined;
  while (Date.now() < stopAt) {
    // EV 1e8 or 1e7 wei against 1e7 wei a second: some calls pay, some are covered by credit.
    const faceValue = Math.random() < 0.5 ? 100_000_000_000n : 10_000_000_000n;
    const info = orchestratorInfo({ orch, pricePerUnit: 10_000_000n, faceValue });
    const res = await client.generateLivePayment(paymentRequest(info, { type: JobType.LIVE, ...(state ? { state } : {}) }));
    state = res.state;
    await sleep(700 + Math.random() * 600);
  }
}

/** The go-livepeer gateway's shape: JSON over the legacy endpoint. */
async function legacySession(stopAt: number) {
  const orch = testOrchestrator();
  let state: { State: string; Sig: string } | undefined;
  while (Date.now() < stopAt) {
    const res = await rawRequest(`${signer.url}/generate-live-payment`, {
      method: "POST",
      body: gatewayPaymentBody(orchestratorInfo({ orch }), state ? { state } : {}),
    });
    if (res.status === 200) state = (JSON.parse(res.body) as { state: { State: string; Sig: string } }).state;
    await sleep(1500 + Math.random() * 1000);
  }
}

/** Now and then: an expiring auth token, a price above the request's ceiling, a malformed call. */
async function trouble(stopAt: number) {
  while (Date.now() < stopAt) {
    const roll = Math.random();
    const call =
      roll < 0.4
        ? client.generateLivePayment(paymentRequest(orchestratorInfo({ authExpiration: BigInt(Math.floor(Date.now() / 1000)) + 60n })))
        : roll < 0.75
          ? client.generateLivePayment(
              paymentRequest(orchestratorInfo({ pricePerUnit: 3n }), { maxPrice: { price: "1", currency: "wei", unit: "720p-pixel-seconds" } }),
            )
          : rawRequest(`${signer.url}/generate-live-payment`, { method: "POST", body: "{}" });
    await call.catch(() => undefined);
    await sleep(2500 + Math.random() * 3000);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const stopAt = Date.now() + seconds * 1000;
const sessions: Promise<void>[] = [];
// Sessions join over time, so the chart shows traffic growing.
for (let i = 0; i < 6; i++) {
  sessions.push(sleep(i * (seconds * 1000) / 8).then(() => (i % 3 === 2 ? legacySession(stopAt) : connectSession(stopAt))));
}
sessions.push(trouble(stopAt));
await Promise.all(sessions);

const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: Number(values.width), height: 640 }, deviceScaleFactor: 1 });
  await page.goto(`${signer.url}/dashboard/`);
  await page.getByTestId("connection").filter({ hasText: "live" }).waitFor();
  await page.waitForTimeout(1500);
  mkdirSync(dirname(out), { recursive: true });
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await signer.close();
}
