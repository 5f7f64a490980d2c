/**
 * Usage events on the payment path, with a real SQLite outbox on disk and a real server on
 * loopback: an event per paying or nothing-due call on both transports with go-livepeer's fields,
 * the same id for a retried state, a full outbox answering unavailable with nothing returned
 * (and payments resuming once drained), and the extended webhook body agreeing with the reply.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, test } from "vitest";
import { SignerService } from "../gen/livepeer/signer/v1/signer_pb.js";
import { Capabilities_CapabilityConstraintsSchema, CapabilitiesSchema, PaymentSchema } from "../gen/net/lp_rpc_pb.js";
import { checksumAddress } from "../src/crypto/eth-sign.js";
import { paymentEventId } from "../src/events/payment-event.js";
import { openOutbox, type Outbox } from "../src/events/outbox.js";
import { openEventOutbox, outboxHealth, registerOutboxMetrics } from "../src/events/runtime.js";
import { Rat } from "../src/math/rat.js";
import { createAuthWebhook } from "../src/payment/auth-webhook.js";
import { decodeState } from "../src/state/payment-state.js";
import { orchestratorInfo, testOrchestrator, T0 } from "./support/fixtures.js";
import { gatewayPaymentBody, paymentRequest, rawRequest, startTestServer, startTestWebhook, type RunningTestServer } from "./support/net-server.js";

const dir = mkdtempSync(join(tmpdir(), "lpsigner-events-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const open: { outbox: Outbox; server: RunningTestServer }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.server.close();
    o.outbox.close();
  }
});

async function signerWithOutbox(opts: { maxCount?: number; webhook?: Parameters<typeof createAuthWebhook>[0] } = {}) {
  const outbox = openOutbox({ path: join(dir, `outbox-${n++}.db`), maxBytes: 1 << 30, maxCount: opts.maxCount ?? 1_000_000 });
  const server = await startTestServer({
    overrides: { events: { outbox, gateway: "gw.test" }, ...(opts.webhook && { webhook: createAuthWebhook(opts.webhook) }) },
  });
  open.push({ outbox, server });
  return { outbox, server };
}

const events = (outbox: Outbox) => outbox.oldest(1000).map((r) => ({ ...r, json: JSON.parse(Buffer.from(r.value).toString("utf8")) }));

const LV2V = 35;
const info = orchestratorInfo({ pricePerUnit: 3n, pixelsPerUnit: 2n, transcoder: "https://orch.test:8935" });

async function legacyPay(url: string, body: string, requestId?: string) {
  const res = await rawRequest(`${url}/generate-live-payment`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(requestId && { "X-Request-Id": requestId }) },
    body,
  });
  const json = JSON.parse(res.body);
  return { status: res.status, json, state: json.state as { State: string; Sig: string } | undefined };
}

const stateOf = (s: { State: string }) => decodeState(Buffer.from(s.State, "base64"));

describe("an event per paying or nothing-due call", () => {
  test("HTTP/JSON: go-livepeer's fields, in its forms, for a new, a continuing and a nothing-due call", async () => {
    const { outbox, server } = await signerWithOutbox();
    const caps = create(CapabilitiesSchema, {
      constraints: { PerCapability: { [LV2V]: create(Capabilities_CapabilityConstraintsSchema, { models: { streamdiffusion: {} } }) } },
    });
    const capabilities = Buffer.from(toBinary(CapabilitiesSchema, caps)).toString("base64");
    const first = await legacyPay(server.url, gatewayPaymentBody(info, { manifestId: "manifest-1", extra: { app: "my-app", capabilities } }), "req-1");
    expect(first.status).toBe(200);
    const tickets = fromBinary(PaymentSchema, Buffer.from(first.json.payment, "base64")).ticketSenderParams.length;
    const s1 = stateOf(first.state!);

    const [e1] = events(outbox);
    expect(e1).toBeDefined();
    // The envelope, field for field and in go-livepeer's order.
    expect(Object.keys(e1!.json)).toEqual(["id", "type", "timestamp", "gateway", "data"]);
    expect(e1!.json).toMatchObject({ type: "create_signed_ticket", gateway: "gw.test" });
    expect(e1!.json.timestamp).toMatch(/^\d{13}$/);
    expect(e1!.id).toBe(paymentEventId(server.signer.address, s1.stateId, 0n));
    expect(e1!.json.id).toBe(e1!.id);
    expect(e1!.key).toBe(e1!.id);
    const d = e1!.json.data;
    // Go writes map keys sorted.
    expect(Object.keys(d)).toEqual([...Object.keys(d)].sort());
    const now = new Date(Number(T0 / 1_000_000n));
    const fee = new Rat(3n * 60n * 1280n * 720n * 30n, 2n); // 60 s preload of 720p30 at 3/2 wei per pixel
    const ev = new Rat(1_000_000_000_000n).mul(new Rat(1n, 1000n)); // faceValue × winProb (MAX/1000)
    expect(d).toEqual({
      session_id: s1.stateId,
      session_status: "new",
      app: "my-app",
      pipeline: "live-video-to-video",
      request_id: "req-1",
      orch_address: checksumAddress(info.address),
      orch_url: "https://orch.test:8935",
      manifest_id: "manifest-1",
      pm_session_id: s1.pmSessionId,
      current_time: now.toISOString().replace(".000Z", "Z"),
      current_time_unix: now.getTime(),
      previous_time: now.toISOString().replace(".000Z", "Z"),
      previous_time_unix: now.getTime(),
      billable_secs: 60,
      pixels: 60 * 1280 * 720 * 30,
      session_balance: Rat.parse(s1.balance)!.toFixed(0),
      computed_fee: fee.toFixed(0),
      cost: "1.5000000000",
      sequence_number: 0,
      num_tickets: tickets,
      auth_id: "",
      face_value: "1000000000000",
      total_ev: ev.mul(new Rat(BigInt(tickets))).toFixed(0),
      job_type: "lv2v",
      capability: "",
      model: "live-video-to-video:streamdiffusion",
    });
    expect(tickets).toBeGreaterThan(0);

    // 1.5 s later: continuing, sequence 1; a fresh request id (none sent) is 8 hex characters.
    server.clock.advance(1.5);
    const second = await legacyPay(server.url, gatewayPaymentBody(info, { manifestId: "manifest-1", state: first.state!, extra: { app: "my-app" } }));
    const all = events(outbox);
    expect(all).toHaveLength(2);
    const d2 = all[1]!.json.data;
    expect(d2).toMatchObject({ session_id: s1.stateId, session_status: "continuing", sequence_number: 1, billable_secs: 1.5 });
    expect(d2.request_id).toMatch(/^[0-9a-f]{8}$/);
    expect(d2.previous_time).toBe(d.current_time);
    // Go's RFC 3339 with the fraction's trailing zeros trimmed.
    expect(d2.current_time).toBe(new Date(now.getTime() + 1500).toISOString().replace(".500Z", ".5Z"));
    expect(d2.previous_time_unix).toBe(now.getTime());
    expect(d2.num_tickets).toBe(second.status === 200 ? fromBinary(PaymentSchema, Buffer.from(second.json.payment, "base64")).ticketSenderParams.length : 0);
    expect(second.status === 200 || second.status === 482).toBe(true);
  });

  test("a nothing-due call (credit covers it) has its event too, with no tickets", async () => {
    const { outbox, server } = await signerWithOutbox();
    // live at 1e6 wei a second; the orchestrator then lowers its face value tenfold, so the
    // credit left by the first ticket covers the next call.
    const orch = testOrchestrator();
    const at = (faceValue: bigint) => orchestratorInfo({ orch, pricePerUnit: 1_000_000n, faceValue });
    const first = await legacyPay(server.url, gatewayPaymentBody(at(1_000_000_000_000n), { extra: { type: "live" } }));
    expect(first.status).toBe(200);
    server.clock.advance(1);
    const second = await legacyPay(server.url, gatewayPaymentBody(at(100_000_000_000n), { state: first.state!, extra: { type: "live" } }));
    expect(second.status).toBe(482);
    const [, e2] = events(outbox);
    expect(e2!.json.data).toMatchObject({ num_tickets: 0, computed_fee: "1000000", sequence_number: 1, pipeline: "live", job_type: "live", face_value: "0", total_ev: "0", billable_secs: 1 });
    expect(e2!.id).toBe(paymentEventId(server.signer.address, stateOf(second.state!).stateId, 1n));
  });

  test("Connect: the same event, request_id from X-Request-Id", async () => {
    const { outbox, server } = await signerWithOutbox();
    const client = createClient(SignerService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
    const r = await client.generateLivePayment(paymentRequest(info, { manifestId: "m-connect" }), { headers: { "X-Request-Id": "connect-req" } });
    const [e] = events(outbox);
    const s = decodeState(r.state!.state);
    expect(e!.id).toBe(paymentEventId(server.signer.address, s.stateId, 0n));
    expect(e!.json.data).toMatchObject({
      request_id: "connect-req",
      manifest_id: "m-connect",
      num_tickets: r.numTickets,
      computed_fee: Rat.parse(r.fee)!.toFixed(0),
      session_balance: Rat.parse(r.balance)!.toFixed(0),
      session_status: "new",
    });
  });

  test("a call retried with the same state gives the same event id (one row)", async () => {
    const { outbox, server } = await signerWithOutbox();
    const first = await legacyPay(server.url, gatewayPaymentBody(info));
    server.clock.advance(5);
    const body = gatewayPaymentBody(info, { state: first.state! });
    const a = await legacyPay(server.url, body, "try-1");
    const b = await legacyPay(server.url, body, "try-2");
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    const ids = events(outbox).map((e) => e.id);
    const expected = paymentEventId(server.signer.address, stateOf(first.state!).stateId, 1n);
    expect(stateOf(a.state!).sequenceNumber).toBe(1n);
    expect(stateOf(b.state!).sequenceNumber).toBe(1n);
    expect(ids).toEqual([paymentEventId(server.signer.address, stateOf(first.state!).stateId, 0n), expected]);
  });
});

describe("a full outbox", () => {
  test("answers unavailable on both transports with nothing signed returned; drained, payments resume", async () => {
    let counted = 0;
    const { outbox, server } = await signerWithOutbox({ maxCount: 2 });
    server.deps.onTicketsSigned = () => counted++;
    expect((await legacyPay(server.url, gatewayPaymentBody(info))).status).toBe(200);
    expect((await legacyPay(server.url, gatewayPaymentBody(info))).status).toBe(200);
    expect(outbox.stats().depth).toBe(2);

    const refused = await legacyPay(server.url, gatewayPaymentBody(info));
    expect(refused.status).toBe(503);
    expect(refused.json.payment).toBeUndefined();
    expect(refused.json.state).toBeUndefined();
    const client = createClient(SignerService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
    const err = await client.generateLivePayment(paymentRequest(info)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unavailable);
    expect(outbox.stats().depth).toBe(2);
    // Nothing else happened: the refused calls' tickets were not counted.
    const countedBefore = counted;

    await outbox.delivered(outbox.oldest(10).map((r) => r.seq));
    expect(outbox.stats()).toMatchObject({ depth: 0, delivered: 2 });
    const resumed = await client.generateLivePayment(paymentRequest(info));
    expect(resumed.numTickets).toBeGreaterThan(0);
    expect(outbox.stats().depth).toBe(1);
    expect(counted).toBe(countedBefore + 1);
  });

  test("a refused call's state is not remembered: the gateway's retry with its previous state still succeeds", async () => {
    const { outbox, server } = await signerWithOutbox({ maxCount: 1 });
    const first = await legacyPay(server.url, gatewayPaymentBody(info));
    server.clock.advance(5);
    const body = gatewayPaymentBody(info, { state: first.state! });
    expect((await legacyPay(server.url, body)).status).toBe(503);
    await outbox.delivered(outbox.oldest(10).map((r) => r.seq));
    const retried = await legacyPay(server.url, body);
    expect(retried.status).toBe(200);
    expect(events(outbox).map((e) => e.id)).toEqual([paymentEventId(server.signer.address, stateOf(first.state!).stateId, 1n)]);
  });
});

describe("GetSpend (the dashboard's spend view)", () => {
  test("fees over the last hour by auth id and by orchestrator, summed exactly from the events", async () => {
    const { outbox, server } = await signerWithOutbox();
    const client = createClient(SignerService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
    const other = orchestratorInfo({ pricePerUnit: 5n, pixelsPerUnit: 1n });
    const fees: Record<string, bigint> = {};
    for (const [auth, orch] of [["alice", info], ["alice", other], ["bob", info]] as const) {
      const r = await client.generateLivePayment(paymentRequest(orch), { headers: { "Signer-Auth-Id": auth } });
      fees[auth] = (fees[auth] ?? 0n) + BigInt(Rat.parse(r.fee)!.toFixed(0));
    }
    const spend = await client.getSpend({});
    expect(spend.eventsEnabled).toBe(true);
    expect(spend.byAuthId.map((e) => [e.key, e.events, e.feeWei])).toEqual(
      Object.entries(fees)
        .sort((a, b) => (b[1] > a[1] ? 1 : -1))
        .map(([k, f]) => [k, k === "alice" ? 2n : 1n, f.toString()]),
    );
    const byOrch = Object.fromEntries(spend.byOrchestrator.map((e) => [e.key, e.events]));
    expect(byOrch).toEqual({ [checksumAddress(info.address)]: 2n, [checksumAddress(other.address)]: 1n });
    const total = events(outbox).reduce((a, e) => a + BigInt(e.json.data.computed_fee), 0n);
    expect(spend.byOrchestrator.reduce((a, e) => a + BigInt(e.feeWei), 0n)).toBe(total);
  });

  test("without events: empty, and says so", async () => {
    const server = await startTestServer();
    try {
      const client = createClient(SignerService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
      const spend = await client.getSpend({});
      expect(spend.eventsEnabled).toBe(false);
      expect(spend.byAuthId).toEqual([]);
    } finally {
      await server.close();
    }
  });
});

describe("metrics and readiness", () => {
  test("the outbox gauges; /readyz not ready above the high-water mark (with delivery), ready again once drained", async () => {
    const cfg = { path: join(dir, `outbox-${n++}.db`), maxBytes: 1 << 30, maxCount: 5, retentionMs: undefined, gateway: "" };
    const outbox = openEventOutbox(cfg);
    const server = await startTestServer({ overrides: { events: { outbox, gateway: "" } }, server: { keyHealth: outboxHealth(outbox, cfg) } });
    open.push({ outbox, server });
    registerOutboxMetrics(server.metrics.registry, outbox);
    for (let i = 0; i < 4; i++) expect((await legacyPay(server.url, gatewayPaymentBody(info))).status).toBe(200);
    const ready = await rawRequest(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect((await legacyPay(server.url, gatewayPaymentBody(info))).status).toBe(200);
    // 5 of 5: above 80 %.
    const notReady = await rawRequest(`${server.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(notReady.body).toMatch(/event outbox above its high-water mark \(5 events/);
    const rows = outbox.oldest(2);
    await outbox.delivered(rows.map((r) => r.seq));
    outbox.failed(3);
    // The count is added by the writer thread, without an answer: seen once it has run.
    for (const deadline = Date.now() + 5_000; outbox.stats().failed !== 3 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
    expect((await rawRequest(`${server.url}/readyz`)).status).toBe(200);
    const metrics = (await rawRequest(`${server.url}/metrics`)).body;
    const sample = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1]);
    expect(sample("lpsigner_events_outbox_depth")).toBe(3);
    expect(sample("lpsigner_events_outbox_bytes")).toBe(outbox.stats().bytes);
    expect(sample("lpsigner_events_outbox_oldest_age_seconds")).toBeGreaterThanOrEqual(0);
    expect(sample("lpsigner_events_delivered_total")).toBe(2);
    expect(sample("lpsigner_events_delivery_failed_total")).toBe(3);
    // The WAL's size as the file system reports it (checkpoints may have cut it meanwhile).
    expect(sample("lpsigner_events_outbox_wal_bytes")).toBeGreaterThan(0);
    expect(sample("lpsigner_events_outbox_wal_bytes")).toBeLessThanOrEqual(16 * 1024 * 1024);
  });
});

describe("the extended webhook body", () => {
  test("its fee and ticket count equal the reply's; manifest, request and event ids are the event's", async () => {
    const hook = await startTestWebhook();
    try {
      const { outbox, server } = await signerWithOutbox({ webhook: { url: hook.url, headers: {}, body: "extended" } });
      const client = createClient(SignerService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
      const r = await client.generateLivePayment(paymentRequest(info, { manifestId: "m-x" }), { headers: { "X-Request-Id": "rid-x" } });
      const body = hook.calls[0]!.json as { headers: unknown; state: unknown; payment: Record<string, unknown> };
      expect(Object.keys(body)).toEqual(["headers", "state", "payment"]);
      const [e] = events(outbox);
      expect(body.payment).toEqual({
        computed_fee: Rat.parse(r.fee)!.toFixed(0),
        num_tickets: r.numTickets,
        face_value: "1000000000000",
        total_ev: e!.json.data.total_ev,
        manifest_id: "m-x",
        request_id: "rid-x",
        event_id: e!.id,
      });
      expect(r.numTickets).toBeGreaterThan(0);
    } finally {
      await hook.close();
    }
  });

  test("the default body is unchanged: {headers, state} only", async () => {
    const hook = await startTestWebhook();
    try {
      const { server } = await signerWithOutbox({ webhook: { url: hook.url, headers: {} } });
      expect((await legacyPay(server.url, gatewayPaymentBody(info))).status).toBe(200);
      expect(Object.keys(hook.calls[0]!.json as object)).toEqual(["headers", "state"]);
    } finally {
      await hook.close();
    }
  });
});
