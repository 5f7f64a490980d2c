/**
 * The auth webhook (PROTOCOL.md section 8) against a real loopback webhook server, through the
 * signer's legacy POST /generate-live-payment with the go-livepeer gateway's request shape:
 * exact statuses and messages (section 9), what the webhook receives, expiry caching, maxPrice
 * and auth ids, and that a refused call signs nothing.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Agent } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { SignerService } from "../gen/livepeer/signer/v1/signer_pb.js";
import type { OrchestratorInfo } from "../gen/net/lp_rpc_pb.js";
import { toHex } from "../src/crypto/bytes.js";
import { verifySignature } from "../src/crypto/eth-sign.js";
import { createAuthWebhook } from "../src/payment/auth-webhook.js";
import { CHAIN, T0, orchestratorInfo, testDeps, testOrchestrator } from "./support/fixtures.js";
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
import { createPaymentVerifier } from "../src/dev-orchestrator/payment-verifier.js";

const NOW_S = T0 / 1_000_000_000n;
const CONFIGURED_HEADERS = { Authorization: "Bearer webhook-secret", "X-Signer-Name": "lpsigner-test" };
const STATE_KEYS = [
  "StateID",
  "PMSessionID",
  "LastUpdate",
  "OrchestratorAddress",
  "App",
  "AuthExpiry",
  "SenderNonce",
  "Balance",
  "InitialPricePerUnit",
  "InitialPixelsPerUnit",
  "Type",
  "SequenceNumber",
  "AuthID",
];

let webhook: TestWebhook;
let srv: RunningTestServer;

beforeAll(async () => {
  webhook = await startTestWebhook();
  srv = await startTestServer({
    // The default 5 s timeout: a loaded machine must not turn a yes into a timeout. The timeout
    // itself is tested with a timer fired by hand.
    overrides: { webhook: createAuthWebhook({ url: webhook.url, headers: CONFIGURED_HEADERS }) },
  });
});

afterAll(async () => {
  await srv?.close(1000);
  await webhook?.close();
});

beforeEach(() => {
  webhook.calls.length = 0;
  webhook.reply((_call, res) => json(res, 200, { status: 200 }));
});

interface WireState {
  State: string;
  Sig: string;
}

interface PaymentReply {
  status: number;
  headers: Record<string, unknown>;
  raw: string;
  /** the error message, for non-200 */
  message?: string;
  /** the signed state blob, for 200 */
  wire?: WireState;
  /** the decoded state JSON, for 200 */
  state?: Record<string, unknown>;
  payment?: string;
  segCreds?: string;
}

async function pay(
  info: OrchestratorInfo,
  opts: { state?: WireState; headers?: Record<string, string>; server?: RunningTestServer; extra?: Record<string, unknown> } = {},
): Promise<PaymentReply> {
  const server = opts.server ?? srv;
  const res = await rawRequest(`${server.url}/generate-live-payment`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...opts.headers },
    body: gatewayPaymentBody(info, { ...(opts.state ? { state: opts.state } : {}), ...(opts.extra ? { extra: opts.extra } : {}) }),
  });
  expect(res.headers["content-type"]).toBe("application/json");
  expect(res.body.endsWith("\n")).toBe(true);
  const body = JSON.parse(res.body) as {
    error?: { message: string };
    state?: WireState;
    payment?: string;
    segCreds?: string;
  };
  const out: PaymentReply = { status: res.status, headers: res.headers, raw: res.body };
  if (res.status !== 200) {
    expect(Object.keys(body)).toEqual(["error"]);
    out.message = body.error!.message;
    return out;
  }
  expect(Object.keys(body)).toEqual(["payment", "segCreds", "state"]);
  out.wire = body.state!;
  out.payment = body.payment!;
  out.segCreds = body.segCreds!;
  const stateBytes = Buffer.from(body.state!.State, "base64");
  expect(verifySignature(server.signer.address, stateBytes, Buffer.from(body.state!.Sig, "base64"))).toBe(true);
  out.state = JSON.parse(stateBytes.toString("utf8")) as Record<string, unknown>;
  return out;
}

/** Asserts the call fails with exactly this status and message, and signs nothing. */
async function expectRefused(
  p: () => Promise<PaymentReply>,
  status: number,
  message: string | RegExp,
  server: RunningTestServer = srv,
): Promise<PaymentReply> {
  const before = server.signer.signCount();
  const res = await p();
  expect({ status: res.status, message: res.message }).toMatchObject({ status, message });
  if (typeof message === "string") expect(res.raw).toBe(`{"error":{"message":${JSON.stringify(message)}}}\n`);
  expect(server.signer.signCount()).toBe(before);
  return res;
}

describe("what the webhook is sent", () => {
  test("allow: 200, and the webhook got {headers, state} with Content-Type and the configured headers", async () => {
    const orch = testOrchestrator();
    const info = orchestratorInfo({ orch });
    const res = await pay(info, {
      headers: { "x-gateway-id": "gw-1", "X-Forwarded-For": "10.0.0.1" },
    });
    expect(res.status).toBe(200);
    expect(webhook.calls).toHaveLength(1);
    const call = webhook.calls[0]!;

    // The HTTP request to the webhook
    expect(call.headers["content-type"]).toBe("application/json");
    expect(call.headers["authorization"]).toBe("Bearer webhook-secret");
    expect(call.headers["x-signer-name"]).toBe("lpsigner-test");

    // The body: exactly {"headers": …, "state": …}
    const body = call.json as { headers: Record<string, string[]>; state: Record<string, unknown> };
    expect(Object.keys(body)).toEqual(["headers", "state"]);
    expect(body.headers["X-Gateway-Id"]).toEqual(["gw-1"]);
    expect(body.headers["X-Forwarded-For"]).toEqual(["10.0.0.1"]);
    expect(body.headers["Content-Type"]).toEqual(["application/json"]);
    for (const [name, values] of Object.entries(body.headers)) {
      expect(name).toMatch(/^[A-Z][a-z0-9]*(-[A-Z0-9][a-z0-9]*)*$/); // Go's canonical form
      expect(Array.isArray(values)).toBe(true);
    }
    expect(body.headers.Host).toBeUndefined();

    // The state the webhook saw is the state that was signed (AuthExpiry 0: the reply had none).
    expect(Object.keys(body.state)).toEqual(STATE_KEYS);
    expect(body.state).toMatchObject({
      OrchestratorAddress: "0x" + toHex(orch.recipient),
      App: "",
      AuthExpiry: 0,
      SenderNonce: 2,
      InitialPricePerUnit: 1,
      InitialPixelsPerUnit: 1,
      Type: "lv2v",
      SequenceNumber: 0,
      AuthID: "",
      PMSessionID: "0x" + toHex(orch.recipientRandHash),
    });
    expect(res.state).toEqual(body.state);

    // And the payment is good.
    const verifier = createPaymentVerifier({
      orch,
      sender: srv.signer.address,
      expectedPrice: { pricePerUnit: 1n, pixelsPerUnit: 1n },
      lastSeenL1Block: () => CHAIN.lastSeenL1Block,
    });
    verifier.accept(res.payment!, res.segCreds!, "m");
    expect(verifier.nonces()).toEqual([1, 2]);
  });

  test("a configured header overrides the same header set by the signer", async () => {
    const own = await startTestServer({
      overrides: {
        webhook: createAuthWebhook({ url: webhook.url, headers: { "Content-Type": "application/vnd.custom+json" }, timeoutMs: 200 }),
      },
    });
    try {
      const res = await pay(orchestratorInfo(), { server: own });
      expect(res.status).toBe(200);
      expect(webhook.calls[0]!.headers["content-type"]).toBe("application/vnd.custom+json");
    } finally {
      await own.close(1000);
    }
  });
});

describe("the webhook's verdict", () => {
  test("deny with status 403 and a reason: 403 with that reason", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: 403, reason: "account suspended" }));
    await expectRefused(() => pay(orchestratorInfo()), 403, "account suspended");
    expect(webhook.calls).toHaveLength(1);
  });

  test("deny without a reason: the default text", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: 403 }));
    await expectRefused(() => pay(orchestratorInfo()), 403, "signer auth rejected request with status 403");
  });

  test("deny over Connect is PermissionDenied with the reason", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: 403, reason: "account suspended" }));
    const agent = new Agent({ keepAlive: false });
    const client = createClient(SignerService, createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1", nodeOptions: { agent } }));
    const before = srv.signer.signCount();
    const err = await client.generateLivePayment(paymentRequest(orchestratorInfo())).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    agent.destroy();
    expect(err?.code).toBe(Code.PermissionDenied);
    expect(err?.rawMessage).toBe("account suspended");
    expect(srv.signer.signCount()).toBe(before);
  });

  test("a deny status of the 5xx range passes through (with the 500/503 message rules)", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: 503, reason: "maintenance" }));
    await expectRefused(() => pay(orchestratorInfo()), 503, "Service Unavailable Error");
    webhook.reply((_c, res) => json(res, 200, { status: 429, reason: "slow down" }));
    await expectRefused(() => pay(orchestratorInfo()), 429, "slow down");
  });

  // Node cannot send a final 1xx response; such a verdict becomes 500.
  test("a deny verdict with a 1xx status still gets a complete error response", async () => {
    for (const status of [100, 101, 199]) {
      webhook.reply((_c, res) => json(res, 200, { status, reason: "odd" }));
      const before = srv.signer.signCount();
      const res = await rawRequest(`${srv.url}/generate-live-payment`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: gatewayPaymentBody(orchestratorInfo()),
      }).catch((err: Error) => ({ status: 0, headers: {}, body: err.message }));
      expect({ status: res.status, body: res.body }).toEqual({
        status: 500,
        body: '{"error":{"message":"Internal Server Error"}}\n',
      });
      expect(srv.signer.signCount()).toBe(before);
    }
  });

  test("HTTP 500 from the webhook: 500 Internal Server Error", async () => {
    webhook.reply((_c, res) => json(res, 500, { status: 200 }));
    await expectRefused(() => pay(orchestratorInfo()), 500, "Internal Server Error");
  });

  test("HTTP 403 from the webhook (not a JSON verdict): 500", async () => {
    webhook.reply((_c, res) => json(res, 403, { status: 403, reason: "nope" }));
    await expectRefused(() => pay(orchestratorInfo()), 500, "Internal Server Error");
  });

  test("malformed JSON: 500", async () => {
    webhook.reply((_c, res) => json(res, 200, '{"status":200'));
    await expectRefused(() => pay(orchestratorInfo()), 500, "Internal Server Error");
  });

  test("status missing: 500", async () => {
    webhook.reply((_c, res) => json(res, 200, { reason: "fine" }));
    await expectRefused(() => pay(orchestratorInfo()), 500, "Internal Server Error");
  });

  test("status 0 or negative: 500", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: -1 }));
    await expectRefused(() => pay(orchestratorInfo()), 500, "Internal Server Error");
  });

  test("status of the wrong JSON type: 500", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: "200" }));
    await expectRefused(() => pay(orchestratorInfo()), 500, "Internal Server Error");
  });

  test("a webhook slower than its timeout: 500, on the timer and not on the reply", async () => {
    // The timer is fired by hand once the webhook holds the request: no wall-clock assertion.
    const timers: { ms: number; fire: () => void }[] = [];
    const timeoutSignal = (ms: number) => {
      const c = new AbortController();
      timers.push({ ms, fire: () => c.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")) });
      return c.signal;
    };
    const own = await startTestServer({
      overrides: { webhook: createAuthWebhook({ url: webhook.url, headers: {}, timeoutMs: 200, timeoutSignal }) },
    });
    let answered = false;
    webhook.reply((_c, res) => {
      timers.at(-1)!.fire();
      // Never answered while the signer waits; closed after the refusal.
      res.on("close", () => void (answered = res.writableEnded));
    });
    try {
      await expectRefused(() => pay(orchestratorInfo(), { server: own }), 500, "Internal Server Error", own);
      expect(timers.map((t) => t.ms)).toEqual([200]);
      expect(answered).toBe(false);
    } finally {
      await own.close(1000);
    }
  });

  test("an unreachable webhook: 500", async () => {
    const dead = await startTestWebhook();
    const url = dead.url;
    await dead.close();
    const own = await startTestServer({ overrides: { webhook: createAuthWebhook({ url, headers: {}, timeoutMs: 200 }) } });
    try {
      await expectRefused(() => pay(orchestratorInfo(), { server: own }), 500, "Internal Server Error", own);
    } finally {
      await own.close(1000);
    }
  });
});

describe("expiry caching", () => {
  test("a reply with expiry is stored in AuthExpiry; the webhook is skipped until the clock passes it", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: 200, expiry: Number(NOW_S) + 60 }));
    const clock = srv.clock;
    clock.set(T0);
    const info = orchestratorInfo({ authExpiration: NOW_S + 1800n });

    const first = await pay(info);
    expect(first.status).toBe(200);
    expect(first.state!.AuthExpiry).toBe(Number(NOW_S) + 60);
    expect(webhook.calls).toHaveLength(1);

    // now == expiry: still valid, no call; AuthExpiry carried over.
    clock.advance(60);
    const second = await pay(info, { state: first.wire! });
    expect(second.status).toBe(200);
    expect(webhook.calls).toHaveLength(1);
    expect(second.state!.AuthExpiry).toBe(Number(NOW_S) + 60);
    expect(second.state!.SequenceNumber).toBe(1);

    // Past expiry: asked again; a reply without expiry stores 0.
    webhook.reply((_c, res) => json(res, 200, { status: 200 }));
    clock.advance(60);
    const third = await pay(info, { state: second.wire! });
    expect(third.status).toBe(200);
    expect(webhook.calls).toHaveLength(2);
    expect(third.state!.AuthExpiry).toBe(0);
    const seen = (webhook.calls[1]!.json as { state: Record<string, unknown> }).state;
    expect(seen.SequenceNumber).toBe(2);
    clock.set(T0);
  });

  test("a cached approval does not survive into a denial: after expiry a 403 stops the session", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: 200, expiry: Number(NOW_S) + 10 }));
    const clock = srv.clock;
    clock.set(T0);
    const info = orchestratorInfo({ authExpiration: NOW_S + 1800n });
    const first = await pay(info);
    expect(first.status).toBe(200);
    webhook.reply((_c, res) => json(res, 200, { status: 403, reason: "expired subscription" }));
    clock.advance(60);
    await expectRefused(() => pay(info, { state: first.wire! }), 403, "expired subscription");
    expect(webhook.calls).toHaveLength(2);
    clock.set(T0);
  });
});

describe("maxPrice from the webhook", () => {
  test("malformed (currency usd): 502", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: 200, maxPrice: { price: "10", currency: "usd", unit: "720p-pixel-seconds" } }));
    const res = await expectRefused(() => pay(orchestratorInfo()), 502, /^signer auth invalid maxPrice: .*currency/);
    expect(res.message).not.toBe("Internal Server Error");
  });

  test("wrong unit for the job type: 502", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: 200, maxPrice: { price: "10", currency: "wei", unit: "seconds" } }));
    await expectRefused(() => pay(orchestratorInfo()), 502, /^signer auth invalid maxPrice: .*unit/);
  });

  test("non-positive price: 502", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: 200, maxPrice: { price: "0", currency: "wei", unit: "720p-pixel-seconds" } }));
    await expectRefused(() => pay(orchestratorInfo()), 502, /^signer auth invalid maxPrice: .*price/);
  });

  test("a price that does not decode (not a number): 500", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: 200, maxPrice: { price: true, currency: "wei", unit: "720p-pixel-seconds" } }));
    await expectRefused(() => pay(orchestratorInfo()), 500, "Internal Server Error");
  });

  test("below the orchestrator's price: 481", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: 200, maxPrice: { price: "0.5", currency: "wei", unit: "720p-pixel-seconds" } }));
    await expectRefused(() => pay(orchestratorInfo({ pricePerUnit: 1n })), 481, /^orchestrator price 1(\.0+)? exceeds auth webhook maxPrice ceiling 0\.50*$/);
  });

  test("at or above the orchestrator's price (string or number): 200", async () => {
    webhook.reply((_c, res) => json(res, 200, '{"status":200,"maxPrice":{"price":1,"currency":"wei","unit":"720p-pixel-seconds"}}'));
    expect((await pay(orchestratorInfo({ pricePerUnit: 1n }))).status).toBe(200);
    webhook.reply((_c, res) => json(res, 200, { status: 200, maxPrice: { price: "2.5", currency: "wei", unit: "720p-pixel-seconds" } }));
    expect((await pay(orchestratorInfo({ pricePerUnit: 2n }))).status).toBe(200);
  });
});

describe("auth ids", () => {
  test("the webhook's auth_id is stored; a later different auth_id is a 500", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: 200, auth_id: "user-1" }));
    const info = orchestratorInfo();
    const first = await pay(info);
    expect(first.status).toBe(200);
    expect(first.state!.AuthID).toBe("user-1");

    // the same id again is fine
    const second = await pay(info, { state: first.wire! });
    expect(second.status).toBe(200);
    expect(second.state!.AuthID).toBe("user-1");

    webhook.reply((_c, res) => json(res, 200, { status: 200, auth_id: "user-2" }));
    await expectRefused(() => pay(info, { state: second.wire! }), 500, "Internal Server Error");
  });

  test("the webhook's auth_id wins over the Signer-Auth-Id header", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: 200, auth_id: "from-webhook" }));
    const res = await pay(orchestratorInfo(), { headers: { "Signer-Auth-Id": "from-header" } });
    expect(res.status).toBe(200);
    expect(res.state!.AuthID).toBe("from-webhook");
    const sent = (webhook.calls[0]!.json as { headers: Record<string, string[]> }).headers;
    expect(sent["Signer-Auth-Id"]).toEqual(["from-header"]);
  });

  test("without auth_id from the webhook, the Signer-Auth-Id header is stored; a different one later is a 500", async () => {
    const info = orchestratorInfo();
    const first = await pay(info, { headers: { "signer-auth-id": "gw-user-7" } });
    expect(first.status).toBe(200);
    expect(first.state!.AuthID).toBe("gw-user-7");
    await expectRefused(() => pay(info, { state: first.wire!, headers: { "Signer-Auth-Id": "gw-user-8" } }), 500, "Internal Server Error");
    // A call without the header keeps the session's id.
    const third = await pay(info, { state: first.wire! });
    expect(third.status).toBe(200);
    expect(third.state!.AuthID).toBe("gw-user-7");
  });

  test("the header rule applies when the webhook is skipped (cached approval)", async () => {
    webhook.reply((_c, res) => json(res, 200, { status: 200, expiry: Number(NOW_S) + 3600 }));
    srv.clock.set(T0);
    const info = orchestratorInfo();
    const first = await pay(info, { headers: { "Signer-Auth-Id": "a" } });
    expect(first.status).toBe(200);
    expect(first.state!.AuthID).toBe("a");
    srv.clock.advance(60);
    await expectRefused(() => pay(info, { state: first.wire!, headers: { "Signer-Auth-Id": "b" } }), 500, "Internal Server Error");
    expect(webhook.calls).toHaveLength(1);
    srv.clock.set(T0);
  });

  test("the header rule applies with no webhook configured", async () => {
    const own = await startTestServer({ deps: testDeps() });
    try {
      const info = orchestratorInfo();
      const first = await pay(info, { server: own, headers: { "Signer-Auth-Id": "solo" } });
      expect(first.status).toBe(200);
      expect(first.state!.AuthID).toBe("solo");
      expect(first.state!.AuthExpiry).toBe(0);
      await expectRefused(
        () => pay(info, { server: own, state: first.wire!, headers: { "Signer-Auth-Id": "other" } }),
        500,
        "Internal Server Error",
        own,
      );
      expect(webhook.calls).toHaveLength(0);
    } finally {
      await own.close(1000);
    }
  });
});
