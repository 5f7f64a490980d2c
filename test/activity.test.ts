/**
 * Payment activity: the recorder's buckets, sessions and latency quantiles, and
 * WatchSignerActivity over gRPC-web against a real loopback signer, where every outcome made
 * through Connect and the legacy endpoint shows up in the stream and in /metrics alike.
 */
import { createClient, Code, ConnectError } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { Agent } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SignerService, type WatchSignerActivityResponse } from "../gen/livepeer/signer/v1/signer_pb.js";
import { outcomeOfError, stateIdOf, trackPayment } from "../src/activity/outcome.js";
import { latencyBin, latencyQuantile, LATENCY_BINS } from "../src/activity/latency.js";
import { createActivityRecorder } from "../src/activity/recorder.js";
import { Rat } from "../src/math/rat.js";
import { createSignerMetrics } from "../src/server/metrics.js";
import {
  authBadPrice,
  authRejected,
  internal,
  invalidArgument,
  noTickets,
  PaymentError,
  priceExceeded,
  refreshSession,
  unavailable,
  unfunded,
} from "../src/payment/errors.js";
import { redactUrl } from "../src/service/activity-service.js";
import { encodeState, type PaymentState } from "../src/state/payment-state.js";
import { GO_ZERO_TIME_NS } from "../src/go/time.js";
import { T0, orchestratorInfo, testOrchestrator } from "./support/fixtures.js";
import { gatewayPaymentBody, paymentRequest, rawRequest, startTestServer, type RunningTestServer } from "./support/net-server.js";

/** The signer's metrics, as the server makes them; the recorder feeds their series. */
const ticketCounters = () => createSignerMetrics();

function state(stateId: string): PaymentState {
  return {
    stateId,
    pmSessionId: "",
    lastUpdate: GO_ZERO_TIME_NS,
    orchestratorAddress: new Uint8Array(20),
    app: "",
    authExpiry: 0n,
    senderNonce: 0,
    balance: "",
    initialPricePerUnit: 0n,
    initialPixelsPerUnit: 0n,
    type: "",
    sequenceNumber: 0n,
    authId: "",
  };
}

describe("the activity recorder", () => {
  test("counts outcomes per time bucket, drops buckets older than the window, and keeps exact totals", () => {
    let now = 1_000_000;
    const m = ticketCounters();
    const rec = createActivityRecorder(m, { bucketSeconds: 10, buckets: 3, now: () => now });
    rec.payment("paid", 0.002, "a");
    rec.ticketsSigned({ numTickets: 2, faceValue: 10n ** 18n + 1n, ev: new Rat(1n, 3n) });
    now += 10_000;
    rec.payment("refresh", 0.001);
    rec.payment("client_error", 0.001);
    let s = rec.snapshot();
    expect(s.buckets.map((b) => b.payments.paid)).toEqual([0, 1, 0]);
    expect(s.buckets.map((b) => b.payments.refresh)).toEqual([0, 0, 1]);
    expect(s.buckets.map((b) => b.ticketsSigned)).toEqual([0, 2, 0]);
    expect(s.buckets[2]!.startMs - s.buckets[1]!.startMs).toBe(10_000);
    expect(s.totals).toMatchObject({ paid: 1, refresh: 1, client_error: 1, nothing_due: 0, internal_error: 0 });
    expect(s.ticketsSigned).toBe(2);
    expect(s.faceValue).toBe(2n * (10n ** 18n + 1n)); // exact, past 2^53
    expect(s.ev.toString()).toBe("2/3");
    expect(s.activeSessions).toBe(1);
    // 30 s later the first bucket and the session have left the 30 s window; totals remain.
    now += 30_000;
    s = rec.snapshot();
    expect(s.buckets.every((b) => b.payments.paid === 0 && b.payments.refresh === 0)).toBe(true);
    expect(s.activeSessions).toBe(0);
    expect(s.totals.paid).toBe(1);
    expect(s.latencyP50Ms).toBe(0);
  });

  test("active sessions are distinct state ids, bounded by maxSessions (oldest forgotten)", () => {
    let now = 0;
    const rec = createActivityRecorder(ticketCounters(), { now: () => now, maxSessions: 3 });
    for (const id of ["a", "b", "a", "c"]) {
      rec.payment("paid", 0.001, id);
      now += 1;
    }
    expect(rec.snapshot().activeSessions).toBe(3);
    rec.payment("nothing_due", 0.001, "d");
    rec.payment("paid", 0.001, "e");
    expect(rec.snapshot().activeSessions).toBe(3);
  });

  test("the EV total stays exact across batches of several orchestrators' denominators", () => {
    const rec = createActivityRecorder(ticketCounters(), {});
    const MAX = (1n << 256n) - 1n;
    const batches: [number, Rat][] = [
      [3, new Rat(1n, 3n)],
      [2, new Rat(1n, 6n)],
      [1, new Rat(5n, 7n)],
      [1, new Rat(1n, 3n)],
      [4, new Rat(12345678901234567890n, MAX)],
      [1, new Rat(99n, MAX)],
    ];
    let expected = Rat.ZERO;
    for (let round = 0; round < 50; round++) {
      for (const [n, ev] of batches) {
        rec.ticketsSigned({ numTickets: n, faceValue: 1n, ev });
        expected = expected.add(ev.mul(new Rat(BigInt(n))));
      }
    }
    const total = rec.snapshot().ev;
    expect([total.num, total.den]).toEqual([expected.num, expected.den]);
    expect(rec.exportState().ev).toEqual({ num: expected.num, den: expected.den });
  });

  test("the same events reach the Prometheus series", async () => {
    const m = ticketCounters();
    const rec = createActivityRecorder(m);
    rec.payment("paid", 0.003);
    rec.payment("price_exceeded", 0.001);
    rec.ticketsSigned({ numTickets: 3, faceValue: 1000n, ev: new Rat(5n, 2n) });
    const text = await m.registry.metrics();
    expect(text).toContain('lpsigner_payments_total{outcome="paid"} 1');
    expect(text).toContain('lpsigner_payments_total{outcome="price_exceeded"} 1');
    expect(text).toContain('lpsigner_payments_total{outcome="unavailable"} 0');
    expect(text).toContain("lpsigner_payment_duration_seconds_count 2");
    expect(text).toMatch(/^lpsigner_tickets_signed_total 3$/m);
    expect(text).toMatch(/^lpsigner_ticket_face_value_wei_total 3000$/m);
    expect(text).toMatch(/^lpsigner_ticket_ev_wei_total 7.5$/m);
  });

  test("latency quantiles are within a bin (about 9 %) of the true value", () => {
    const h = new Uint32Array(LATENCY_BINS);
    for (let i = 1; i <= 1000; i++) h[latencyBin(i / 100)]!++; // 0.01 .. 10 ms
    const p50 = latencyQuantile([h], 0.5);
    const p99 = latencyQuantile([h], 0.99);
    expect(Math.abs(p50 - 5) / 5).toBeLessThan(0.09);
    expect(Math.abs(p99 - 9.9) / 9.9).toBeLessThan(0.09);
    expect(latencyQuantile([new Uint32Array(LATENCY_BINS)], 0.5)).toBe(0);
    expect(latencyBin(0)).toBe(0);
    expect(latencyBin(1e9)).toBe(LATENCY_BINS - 1);
  });

  test("outcomes by domain error", () => {
    const rat = new Rat(1n);
    expect(outcomeOfError(noTickets())).toBe("nothing_due");
    expect(outcomeOfError(refreshSession("u", "r"))).toBe("refresh");
    expect(outcomeOfError(priceExceeded("s", rat, rat))).toBe("price_exceeded");
    expect(outcomeOfError(invalidArgument("x"))).toBe("client_error");
    expect(outcomeOfError(authRejected(403, "no"))).toBe("client_error");
    expect(outcomeOfError(new ConnectError("orchestrator: required", Code.InvalidArgument))).toBe("client_error");
    expect(outcomeOfError(unavailable("stale"))).toBe("unavailable");
    expect(outcomeOfError(unfunded("no sender reserve"))).toBe("unavailable");
    expect(outcomeOfError(authBadPrice("x"))).toBe("internal_error");
    expect(outcomeOfError(internal("x"))).toBe("internal_error");
    expect(outcomeOfError(new TypeError("x"))).toBe("internal_error");
  });

  test("stateIdOf reads the id from the signer's own state encoding only", () => {
    expect(stateIdOf(encodeState(state("0a1b2c3d")))).toBe("0a1b2c3d");
    expect(stateIdOf(new TextEncoder().encode('{"PMSessionID":"x","StateID":"y"}'))).toBeUndefined();
    expect(stateIdOf(new TextEncoder().encode('{"StateID":"unterminated'))).toBeUndefined();
    expect(stateIdOf(undefined)).toBeUndefined();
  });

  test("trackPayment counts a call that throws before its first await, and rethrows", async () => {
    const seen: string[] = [];
    const rec = { payment: (o: string) => void seen.push(o) };
    await expect(
      trackPayment(rec, () => {
        throw invalidArgument("bad");
      }),
    ).rejects.toBeInstanceOf(PaymentError);
    expect(seen).toEqual(["client_error"]);
  });

  test("an RPC URL is shown without credentials, path or query", () => {
    expect(redactUrl("https://user:secret@rpc.example:8545/v2/APIKEY?token=x")).toBe("https://rpc.example:8545");
    expect(redactUrl("not a url")).toBe("");
    expect(redactUrl(undefined)).toBe("");
  });
});

describe("WatchSignerActivity over gRPC-web", () => {
  let srv: RunningTestServer;
  let agent: Agent;
  beforeAll(async () => {
    srv = await startTestServer();
    agent = new Agent({ keepAlive: true });
  });
  afterAll(async () => {
    agent?.destroy();
    await srv?.close(500);
  });

  const client = () =>
    createClient(SignerService, createGrpcWebTransport({ baseUrl: srv.url, httpVersion: "1.1", nodeOptions: { agent } }));

  /** Reads the stream until a snapshot satisfies done, or fails after timeoutMs. */
  async function waitFor(done: (s: WatchSignerActivityResponse) => boolean, timeoutMs = 5000) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    let last: WatchSignerActivityResponse | undefined;
    try {
      for await (const s of client().watchSignerActivity({ intervalMs: 250 }, { signal: abort.signal })) {
        last = s;
        if (done(s)) return s;
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
    throw new Error(`no matching snapshot; last: ${JSON.stringify(last?.payments, (_k, v) => (typeof v === "bigint" ? Number(v) : v))}`);
  }

  test("streams identity and status at once, with every outcome at 0", async () => {
    const s = await waitFor(() => true);
    expect(s.status?.addressHex).toBe(srv.signer.addressHex);
    expect(s.status?.chain?.deposit).toBe("10000000000000000000");
    expect(s.payments).toMatchObject({ paid: 0n, nothingDue: 0n, refresh: 0n, priceExceeded: 0n, clientError: 0n });
    expect(s.buckets).toHaveLength(30);
    expect(s.bucketSeconds).toBe(10);
    expect(s.windowSeconds).toBe(300);
    expect(s.discoveryEnabled).toBe(false);
  });

  test("Connect and legacy payments of each outcome appear in the stream and in /metrics alike", async () => {
    const c = client();
    // Paid, twice over Connect (one session continued) and once over the legacy endpoint.
    const orch = testOrchestrator();
    const first = await c.generateLivePayment(paymentRequest(orchestratorInfo({ orch, pricePerUnit: 1_000_000n }), { type: 2 }));
    expect(first.paymentRequired).toBe(true);
    const legacy = await rawRequest(`${srv.url}/generate-live-payment`, { method: "POST", body: gatewayPaymentBody(orchestratorInfo()) });
    expect(legacy.status).toBe(200);
    // Nothing due: a second later, with params of a tenth the EV, the first ticket's credit covers the call.
    srv.clock.advance(1);
    const lower = orchestratorInfo({ orch, pricePerUnit: 1_000_000n, faceValue: 100_000_000_000n });
    const second = await c.generateLivePayment(paymentRequest(lower, { type: 2, state: first.state }));
    expect(second.paymentRequired).toBe(false);
    // Refresh, price exceeded, client errors (Connect and legacy).
    await expect(c.generateLivePayment(paymentRequest(orchestratorInfo({ authExpiration: T0 / 1_000_000_000n + 100n })))).rejects.toThrow();
    await expect(
      c.generateLivePayment(
        paymentRequest(orchestratorInfo({ pricePerUnit: 3n }), { maxPrice: { price: "1", currency: "wei", unit: "720p-pixel-seconds" } }),
      ),
    ).rejects.toThrow();
    await expect(c.generateLivePayment({ manifestId: "m" })).rejects.toThrow();
    const bad = await rawRequest(`${srv.url}/generate-live-payment`, { method: "POST", body: "{not json" });
    expect(bad.status).toBe(400);

    const s = await waitFor((x) => x.payments!.clientError === 2n);
    expect(s.payments).toMatchObject({ paid: 2n, nothingDue: 1n, refresh: 1n, priceExceeded: 1n, clientError: 2n, unavailable: 0n, internalError: 0n });
    expect(s.ticketsSigned).toBeGreaterThan(BigInt(first.numTickets)); // and the legacy call's
    expect(s.activeSessions).toBe(2); // the continued Connect session and the legacy one
    expect(s.latencyP99Ms).toBeGreaterThan(0);
    expect(s.latencyP99Ms).toBeGreaterThanOrEqual(s.latencyP50Ms);
    expect(s.buckets.reduce((n, b) => n + b.payments!.paid, 0n)).toBe(2n);

    // /metrics exports the same counts.
    const metrics = (await rawRequest(`${srv.url}/metrics`)).body;
    const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, "\\$&")} (\\S+)$`, "m").exec(metrics)?.[1]);
    expect(value('lpsigner_payments_total{outcome="paid"}')).toBe(Number(s.payments!.paid));
    expect(value('lpsigner_payments_total{outcome="nothing_due"}')).toBe(1);
    expect(value('lpsigner_payments_total{outcome="refresh"}')).toBe(1);
    expect(value('lpsigner_payments_total{outcome="price_exceeded"}')).toBe(1);
    expect(value('lpsigner_payments_total{outcome="client_error"}')).toBe(2);
    expect(value("lpsigner_tickets_signed_total")).toBe(Number(s.ticketsSigned));
    expect(value("lpsigner_ticket_face_value_wei_total")).toBe(Number(s.faceValueWei));
    expect(value("lpsigner_payment_duration_seconds_count")).toBe(7);
    const ev = Rat.parse(s.evWei)!;
    expect(value("lpsigner_ticket_ev_wei_total")).toBeCloseTo(Number(ev.num) / Number(ev.den), 0);
  });

  test("the interval is clamped to at least 250 ms and the stream ends when the client cancels", async () => {
    const abort = new AbortController();
    const times: number[] = [];
    try {
      for await (const _ of client().watchSignerActivity({ intervalMs: 1 }, { signal: abort.signal })) {
        times.push(performance.now());
        if (times.length === 3) abort.abort();
      }
    } catch (err) {
      expect(ConnectError.from(err).code).toBe(Code.Canceled);
    }
    expect(times).toHaveLength(3);
    expect(times[2]! - times[0]!).toBeGreaterThanOrEqual(450);
  });
});

describe("WatchSignerActivity and shutdown", () => {
  test("the stream ends when the recorder is closed, so a shutdown does not wait out the drain", async () => {
    const srv = await startTestServer();
    const agent = new Agent({ keepAlive: true });
    try {
      const c = createClient(SignerService, createGrpcWebTransport({ baseUrl: srv.url, httpVersion: "1.1", nodeOptions: { agent } }));
      let n = 0;
      const read = (async () => {
        for await (const _ of c.watchSignerActivity({ intervalMs: 250 })) if (++n === 1) srv.activity.close();
      })();
      const started = performance.now();
      await read;
      expect(n).toBe(1);
      expect(performance.now() - started).toBeLessThan(2000);
    } finally {
      agent.destroy();
      await srv.close(200);
    }
  });
});
