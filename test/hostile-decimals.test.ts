/**
 * Issue 11 items 2 and 3 over loopback: an oversize decimal (maxPrice.price of "1." + 200k
 * digits) and long runs of white space (Go's TrimSpace on currency/unit/price) are answered at
 * once with a 400 / INVALID_ARGUMENT naming the field, before the webhook is asked and with
 * nothing signed; the same price from the webhook is a 502 naming it.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Agent } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { SignerService } from "../gen/livepeer/signer/v1/signer_pb.js";
import { createAuthWebhook } from "../src/payment/auth-webhook.js";
import { DECIMAL_LIMITS } from "../src/math/rat.js";
import { T0, orchestratorInfo } from "./support/fixtures.js";
import {
  gatewayPaymentBody,
  json,
  paymentRequest,
  rawRequest,
  startTestServer,
  startTestWebhook,
  type RunningTestServer,
  type TestWebhook,
} from "./support/net-server.js";

const HUGE = "1." + "3".repeat(200_000);
const SPACES = " ".repeat(100_000);
const LV2V_UNIT = "720p-pixel-seconds";

let webhook: TestWebhook;
let srv: RunningTestServer;
let agent: Agent;

beforeAll(async () => {
  webhook = await startTestWebhook();
  srv = await startTestServer({ overrides: { webhook: createAuthWebhook({ url: webhook.url, headers: {}, timeoutMs: 2000 }) } });
  agent = new Agent({ keepAlive: true });
});
afterAll(async () => {
  agent?.destroy();
  await srv?.close(1000);
  await webhook?.close();
});
beforeEach(() => {
  srv.clock.set(T0);
  webhook.calls.length = 0;
  webhook.reply((_c, res) => json(res, 200, { status: 200 }));
});

async function legacyPay(maxPriceJson: string) {
  const body = gatewayPaymentBody(orchestratorInfo()).replace(/}$/, `,"maxPrice":${maxPriceJson}}`);
  const started = performance.now();
  const res = await rawRequest(`${srv.url}/generate-live-payment`, { method: "POST", headers: { "Content-Type": "application/json" }, body });
  return { status: res.status, message: (JSON.parse(res.body) as { error?: { message: string } }).error?.message, ms: performance.now() - started };
}

async function connectPay(maxPrice: { price: string; currency: string; unit: string }) {
  const client = createClient(SignerService, createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1", nodeOptions: { agent } }));
  const started = performance.now();
  const err = await client.generateLivePayment(paymentRequest(orchestratorInfo(), { maxPrice })).then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  return { code: err?.code, message: err?.rawMessage, ms: performance.now() - started };
}

describe("maxPrice.price with 200k digits (issue 11 item 2)", () => {
  const tooLong = `maxPrice.price must be at most ${DECIMAL_LIMITS.maxChars} characters`;

  test("legacy, as a string: 400 naming the field, at once, before the webhook", async () => {
    const res = await legacyPay(JSON.stringify({ price: HUGE, currency: "wei", unit: LV2V_UNIT }));
    expect(res).toMatchObject({ status: 400, message: tooLong });
    expect(res.ms).toBeLessThan(1000);
    expect(webhook.calls).toHaveLength(0);
  });

  test("legacy, as a JSON number (json.Number): the same", async () => {
    const res = await legacyPay(`{"price":${HUGE},"currency":"wei","unit":"${LV2V_UNIT}"}`);
    expect(res).toMatchObject({ status: 400, message: tooLong });
    expect(res.ms).toBeLessThan(1000);
    expect(webhook.calls).toHaveLength(0);
  });

  test("Connect: INVALID_ARGUMENT naming the field, at once, before the webhook", async () => {
    const res = await connectPay({ price: HUGE, currency: "wei", unit: LV2V_UNIT });
    expect(res).toMatchObject({ code: Code.InvalidArgument, message: tooLong });
    expect(res.ms).toBeLessThan(1000);
    expect(webhook.calls).toHaveLength(0);
  });

  test("from the webhook: 502 naming the field", async () => {
    // 50k digits: what still fits under the webhook reply's own 64 KiB cap.
    const price = "1." + "3".repeat(50_000);
    webhook.reply((_c, res) => json(res, 200, { status: 200, maxPrice: { price, currency: "wei", unit: LV2V_UNIT } }));
    const res = await legacyPay("null");
    expect(res).toMatchObject({ status: 502, message: `signer auth invalid maxPrice: ${tooLong}` });
    expect(res.ms).toBeLessThan(1000);
  });

  test("a price within the bounds still works", async () => {
    const res = await legacyPay(JSON.stringify({ price: "9".repeat(DECIMAL_LIMITS.maxDigits), currency: "wei", unit: LV2V_UNIT }));
    expect(res.status).toBe(200);
  });
});

describe("100k spaces in currency, unit and price (issue 11 item 3)", () => {
  test("legacy: Go's TrimSpace takes them off in linear time; the field is named", async () => {
    const unit = await legacyPay(JSON.stringify({ price: "5", currency: "wei", unit: "x" + SPACES + "y" }));
    expect(unit).toMatchObject({ status: 400, message: `maxPrice.unit must be ${LV2V_UNIT} for payment type lv2v` });
    expect(unit.ms).toBeLessThan(1000);
    const currency = await legacyPay(JSON.stringify({ price: "5", currency: SPACES + "x" + SPACES, unit: LV2V_UNIT }));
    expect(currency).toMatchObject({ status: 400, message: "maxPrice.currency must be wei" });
    expect(currency.ms).toBeLessThan(1000);
    // Surrounding white space is not part of the value: this one is valid. (A json.Number price
    // with spaces is a JSON error in Go; Connect's string price is trimmed, below.)
    const valid = await legacyPay(JSON.stringify({ price: "5", currency: SPACES + "wei" + SPACES, unit: SPACES + LV2V_UNIT + SPACES }));
    expect(valid, valid.message).toMatchObject({ status: 200 });
    expect(webhook.calls.length).toBe(1);
  });

  test("Connect: price, currency and unit", async () => {
    const price = await connectPay({ price: "5" + SPACES + "5", currency: "wei", unit: LV2V_UNIT });
    expect(price).toMatchObject({ code: Code.InvalidArgument, message: `maxPrice.price must be at most ${DECIMAL_LIMITS.maxChars} characters` });
    const unit = await connectPay({ price: "5", currency: "wei", unit: "x" + SPACES + "y" });
    expect(unit).toMatchObject({ code: Code.InvalidArgument, message: `maxPrice.unit must be ${LV2V_UNIT} for payment type lv2v` });
    expect(price.ms + unit.ms).toBeLessThan(2000);
    expect(webhook.calls).toHaveLength(0);
    const valid = await connectPay({ price: SPACES + "5" + SPACES, currency: SPACES + "wei", unit: LV2V_UNIT + SPACES });
    expect(valid.code).toBeUndefined();
    expect(valid.ms).toBeLessThan(1000);
  });
});
