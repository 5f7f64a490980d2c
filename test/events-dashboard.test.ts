/**
 * The dashboard's spend view in a real browser (Debian's Chromium) against a signer writing
 * events to an outbox on disk: fees over the last hour by auth id and by orchestrator, as
 * GetSpend sums them from the events.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, expect, test } from "vitest";
import { SignerService } from "../gen/livepeer/signer/v1/signer_pb.js";
import { openOutbox, type Outbox } from "../src/events/outbox.js";
import { chromiumMissing, launchChromium } from "./support/browser.js";
import { orchestratorInfo } from "./support/fixtures.js";
import { paymentRequest, startTestServer, type RunningTestServer } from "./support/net-server.js";

const noChromium = chromiumMissing();
const dir = mkdtempSync(join(tmpdir(), "lpsigner-events-dashboard-"));
let outbox: Outbox;
let srv: RunningTestServer;
let browser: Browser;

beforeAll(async () => {
  outbox = openOutbox({ path: join(dir, "events.db"), maxBytes: 1 << 30, maxCount: 100_000 });
  srv = await startTestServer({ overrides: { events: { outbox, gateway: "" } } });
  if (!noChromium) browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await srv?.close(200);
  outbox?.close();
  rmSync(dir, { recursive: true, force: true });
});

test.skipIf(noChromium)("spend over the last hour by auth id and by orchestrator", async () => {
  const client = createClient(SignerService, createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1" }));
  const info = orchestratorInfo();
  for (const auth of ["customer-a", "customer-a", "customer-b"]) {
    await client.generateLivePayment(paymentRequest(info), { headers: { "Signer-Auth-Id": auth } });
  }
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${srv.url}/dashboard/`);
  await expect.poll(() => page.getByTestId("spend").isVisible(), { timeout: 15_000 }).toBe(true);
  const rows = (id: string) => page.getByTestId(id).locator("tr").allTextContents();
  await expect.poll(() => rows("spend-auth"), { timeout: 15_000 }).toHaveLength(2);
  const spend = await client.getSpend({});
  const auth = await rows("spend-auth");
  // Largest first: customer-a paid twice at the same price.
  expect(auth[0]).toMatch(/^customer-a.*2$/);
  expect(auth[1]).toMatch(/^customer-b.*1$/);
  const cells = await page.getByTestId("spend-auth").locator("tr").first().locator("td").nth(1).getAttribute("title");
  expect(cells).toBe(`${BigInt(spend.byAuthId[0]!.feeWei).toLocaleString("en-US")} wei`);
  const orch = await rows("spend-orch");
  expect(orch).toHaveLength(1);
  expect(orch[0]).toMatch(/3$/);
});

test.skipIf(noChromium)("past the 100 auth ids the signer lists, the last line sums the rest: what the page leaves out and what the list left out", async () => {
  const client = createClient(SignerService, createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1" }));
  const info = orchestratorInfo();
  for (let i = 0; i < 110; i++) await client.generateLivePayment(paymentRequest(info), { headers: { "Signer-Auth-Id": `bulk-${i}` } });
  const spend = await client.getSpend({});
  // 112 auth ids in all (the first test's two and these): 100 listed, 12 summed by the signer.
  expect(spend.byAuthId).toHaveLength(100);
  expect(spend.moreByAuthId?.keys).toBe(12n);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${srv.url}/dashboard/`);
  const rows = () => page.getByTestId("spend-auth").locator("tr").allTextContents();
  await expect.poll(rows, { timeout: 15_000 }).toHaveLength(11);
  const last = (await rows())[10]!;
  const events = spend.byAuthId.slice(10).reduce((a, e) => a + e.events, spend.moreByAuthId!.events);
  expect(last).toMatch(new RegExp(`^102 more.*${events}$`));
  const fee = spend.byAuthId.slice(10).reduce((a, e) => a + BigInt(e.feeWei), BigInt(spend.moreByAuthId!.feeWei));
  const title = await page.getByTestId("spend-auth").locator("tr").nth(10).locator("td").nth(1).getAttribute("title");
  expect(title).toBe(`${fee.toLocaleString("en-US")} wei`);
});
