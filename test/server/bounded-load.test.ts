/**
 * Bounded under load (issue 22), on real loopback servers: streams capped per process and fed
 * from one snapshot per tick, slow readers dropped, payment calls in flight capped ("signer
 * busy"), keep-alive that outlives a gateway's payment interval yet yields under connection
 * pressure, wire header names that cannot reach Object.prototype, and cross-site POSTs refused
 * before any work.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { once } from "node:events";
import { connect as h2connect } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import { afterEach, expect, test } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { JobType, SignerService, WatchSignerActivityRequestSchema } from "../../gen/livepeer/signer/v1/signer_pb.js";
import { createAuthWebhook } from "../../src/payment/auth-webhook.js";
import { createActivityTicker } from "../../src/service/activity-service.js";
import { DEFAULT_LIMITS } from "../../src/server/create-server.js";
import { orchestratorInfo } from "../support/fixtures.js";
import { gatewayPaymentBody, paymentRequest, rawRequest, startTestServer, startTestWebhook, type RunningTestServer, type TestWebhook } from "../support/net-server.js";

const servers: RunningTestServer[] = [];
const webhooks: TestWebhook[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close(100);
  for (const w of webhooks.splice(0)) await w.close();
});

async function start(opts: Parameters<typeof startTestServer>[0] = {}): Promise<RunningTestServer> {
  const srv = await startTestServer(opts);
  servers.push(srv);
  return srv;
}

async function webhook(): Promise<TestWebhook> {
  const w = await startTestWebhook();
  webhooks.push(w);
  return w;
}

const sample = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}"]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
const metricsText = async (srv: RunningTestServer) => (await rawRequest(`${srv.url}/metrics`)).body;

const legacyPay = (srv: RunningTestServer, headers: Record<string, string> = {}) =>
  rawRequest(`${srv.url}/generate-live-payment`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: gatewayPaymentBody(orchestratorInfo(), { manifestId: `m${Math.random()}` }),
  });

const codeOf = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => ConnectError.from(e));

test("streams of every kind are capped per process: past the bound RESOURCE_EXHAUSTED, and a freed slot serves again", async () => {
  const srv = await start({ server: { admission: { maxStreams: 3 } } });
  const connect = createClient(SignerService, createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1" }));
  const health = createClient(Health, createGrpcTransport({ baseUrl: srv.url }));
  const held = [new AbortController(), new AbortController(), new AbortController()];
  const first = async <T>(stream: AsyncIterable<T>) => {
    for await (const m of stream) return m;
    throw new Error("stream ended");
  };
  // Three streams of two kinds and two protocols, each kept open after its first message.
  const its = [
    connect.watchSignerActivity({}, { signal: held[0]!.signal })[Symbol.asyncIterator](),
    connect.watchSignerActivity({}, { signal: held[1]!.signal })[Symbol.asyncIterator](),
    health.watch({ service: "" }, { signal: held[2]!.signal })[Symbol.asyncIterator](),
  ];
  for (const it of its) expect((await it.next()).done).toBe(false);

  const refused = await codeOf(first(connect.watchSignerActivity({})));
  expect(refused?.code).toBe(Code.ResourceExhausted);
  expect(refused?.message).toMatch(/too many streams open on this signer \(limit 3\)/);
  expect((await codeOf(first(health.watch({ service: "" }))))?.code).toBe(Code.ResourceExhausted);
  expect(sample(await metricsText(srv), "lpsigner_streams_open")).toBe(3);
  expect(sample(await metricsText(srv), 'lpsigner_refused_total{reason="streams"}')).toBe(2);

  held[0]!.abort();
  await its[0]!.return?.();
  let again: unknown;
  for (let i = 0; i < 50 && !again; i++) {
    again = await first(connect.watchSignerActivity({})).catch(() => undefined);
    if (!again) await new Promise((r) => setTimeout(r, 50));
  }
  expect(again).toBeDefined();
  for (const c of held) c.abort();
});

test("every activity stream reads one snapshot per tick, and the interval is at least a second", async () => {
  const srv = await start();
  const ac = new AbortController();
  const times: number[][] = [];
  const watch = async (i: number, intervalMs: number) => {
    times[i] = [];
    const client = createClient(SignerService, createConnectTransport({ baseUrl: srv.url, httpVersion: i % 2 ? "2" : "1.1" }));
    try {
      for await (const _ of client.watchSignerActivity(create(WatchSignerActivityRequestSchema, { intervalMs }), { signal: ac.signal })) {
        times[i]!.push(performance.now());
      }
    } catch {
      // aborted
    }
  };
  const streams = Array.from({ length: 8 }, (_, i) => watch(i, 250));
  await new Promise((r) => setTimeout(r, 3300));
  ac.abort();
  await Promise.all(streams);
  for (const t of times) {
    expect(t.length).toBeGreaterThanOrEqual(3);
    expect(t.length).toBeLessThanOrEqual(5);
    for (let i = 1; i < t.length; i++) expect(t[i]! - t[i - 1]!).toBeGreaterThan(800);
  }
});

test("the activity ticker builds at most one snapshot per tick, whatever the number of readers", async () => {
  let builds = 0;
  const ticker = createActivityTicker(() => {
    builds++;
    return create(WatchSignerActivityRequestSchema, {}) as never;
  }, 100);
  const ac = new AbortController();
  const readers = Array.from({ length: 50 }, async () => {
    for (let i = 0; i < 5; i++) {
      ticker.current();
      await ticker.wait(1, ac.signal);
    }
  });
  await Promise.all(readers);
  // Five ticks read by 50 readers: five or six builds (a first one before the first tick), never 250.
  expect(builds).toBeGreaterThanOrEqual(5);
  expect(builds).toBeLessThanOrEqual(6);
});

test("a stream whose reader stopped reading is dropped once its unsent bytes pass the bound; a reading one stays", async () => {
  const srv = await start({ server: { admission: { slowReaderBytes: 1500 } } });
  const request = {
    ":method": "POST",
    ":path": "/livepeer.signer.v1.SignerService/WatchSignerActivity",
    "content-type": "application/connect+proto",
  };
  const body = Buffer.from([0, 0, 0, 0, 0]); // one enveloped empty request
  // The stalled reader grants no flow-control window: nothing the signer writes can leave.
  const stalled = h2connect(srv.url, { settings: { initialWindowSize: 0 } });
  stalled.on("error", () => {});
  const slow = stalled.request(request);
  slow.on("error", () => {});
  slow.end(body);
  const reading = h2connect(srv.url);
  reading.on("error", () => {});
  const live = reading.request(request);
  let received = 0;
  live.on("data", (c: Buffer) => (received += c.length));
  live.end(body);

  const [code] = (await Promise.race([once(slow, "close").then(() => [slow.rstCode]), new Promise((r) => setTimeout(() => r(["open"]), 10_000))])) as [unknown];
  expect(code).toBe(8); // RST_STREAM CANCEL
  expect(live.closed).toBe(false);
  expect(received).toBeGreaterThan(0);
  expect(sample(await metricsText(srv), 'lpsigner_refused_total{reason="slow-reader"}')).toBe(1);
  live.close();
  stalled.destroy();
  reading.destroy();
}, 20_000);

test("payment calls in flight are capped: past the bound an immediate 503 \"signer busy\" (Connect RESOURCE_EXHAUSTED), nothing signed", async () => {
  const hook = await webhook();
  const held: (() => void)[] = [];
  hook.reply((_call, res) => new Promise<void>((resolve) => held.push(() => (res.end('{"status":200}'), resolve()))));
  const srv = await start({
    overrides: { webhook: createAuthWebhook({ url: hook.url, headers: {}, timeoutMs: 10_000 }) },
    server: { admission: { maxInFlightPayments: 2 } },
  });
  const waiting = [legacyPay(srv), legacyPay(srv)];
  for (let i = 0; i < 100 && held.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  expect(held).toHaveLength(2);
  const signed = srv.signer.signCount();

  const started = performance.now();
  const busy = await legacyPay(srv);
  expect(busy.status).toBe(503);
  expect(busy.body).toBe('{"error":{"message":"signer busy"}}\n');
  expect(busy.headers["retry-after"]).toBe("1");
  const connect = createClient(SignerService, createConnectTransport({ baseUrl: srv.url, httpVersion: "2" }));
  const refused = await codeOf(connect.generateLivePayment(paymentRequest(orchestratorInfo())));
  expect(refused?.code).toBe(Code.ResourceExhausted);
  expect(refused?.rawMessage).toBe("signer busy");
  expect(performance.now() - started).toBeLessThan(1000);
  expect(srv.signer.signCount()).toBe(signed);
  expect(hook.calls).toHaveLength(2);

  for (const release of held.splice(0)) release();
  expect((await Promise.all(waiting)).map((r) => r.status)).toEqual([200, 200]);
  // Slots freed: calls are served again.
  hook.reply((_call, res) => void res.end('{"status":200}'));
  expect((await legacyPay(srv)).status).toBe(200);
  expect((await connect.generateLivePayment(paymentRequest(orchestratorInfo(), { manifestId: "again" }))).paymentRequired).toBe(true);
  const text = await metricsText(srv);
  expect(sample(text, 'lpsigner_refused_total{reason="busy"}')).toBe(2);
  expect(sample(text, "lpsigner_payments_in_flight")).toBe(0);
});

/** A raw keep-alive HTTP/1.1 client on one socket: each request's reply, in order. */
async function keepAliveSocket(port: number) {
  const s = netConnect(port, "127.0.0.1");
  sockets.push(s);
  s.on("error", () => {});
  await once(s, "connect");
  let buffered = "";
  s.on("data", (c: Buffer) => (buffered += c.toString("latin1")));
  return {
    socket: s,
    async get(path: string): Promise<string> {
      buffered = "";
      s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      for (let i = 0; i < 200 && !/\r\n\r\n[\s\S]*\n$/.test(buffered); i++) await new Promise((r) => setTimeout(r, 10));
      return buffered;
    },
  };
}

test("keep-alive: a connection idle past a gateway's 5 s payment interval is still open and serves the next call", async () => {
  expect(DEFAULT_LIMITS.keepAliveMs).toBeGreaterThanOrEqual(65_000);
  const srv = await start();
  const c = await keepAliveSocket(srv.port);
  expect(await c.get("/healthz")).toMatch(/^HTTP\/1\.1 200[\s\S]*keep-alive/);
  await new Promise((r) => setTimeout(r, 6000));
  expect(c.socket.destroyed).toBe(false);
  expect(await c.get("/healthz")).toMatch(/^HTTP\/1\.1 200/);
}, 20_000);

test("under connection pressure idle keep-alive connections are closed first, and the new client is served", async () => {
  const srv = await start({ server: { limits: { maxConnections: 16 } } });
  const idle = [];
  for (let i = 0; i < 14; i++) {
    const c = await keepAliveSocket(srv.port);
    expect(await c.get("/healthz")).toMatch(/^HTTP\/1\.1 200/);
    idle.push(c);
  }
  // The 15th reaches the pressure mark (cap less a sixteenth): the idle ones are closed.
  const fresh = await keepAliveSocket(srv.port);
  expect(await fresh.get("/healthz")).toMatch(/^HTTP\/1\.1 200/);
  for (let i = 0; i < 100 && idle.some((c) => !c.socket.destroyed); i++) await new Promise((r) => setTimeout(r, 20));
  expect(idle.filter((c) => !c.socket.destroyed)).toHaveLength(0);
  expect(fresh.socket.destroyed).toBe(false);
});

test("a __proto__ request header, with a webhook configured, is forwarded as an ordinary header on both transports", async () => {
  const hook = await webhook();
  const srv = await start({ overrides: { webhook: createAuthWebhook({ url: hook.url, headers: {}, timeoutMs: 5000 }) } });
  // Computed keys: a literal "__proto__": in an object literal would set the prototype instead.
  const legacy = await legacyPay(srv, { ["__proto__"]: "x", Constructor: "y" });
  expect(legacy.status).toBe(200);
  const connect = createClient(SignerService, createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1" }));
  const paid = await connect.generateLivePayment(paymentRequest(orchestratorInfo()), { headers: [["__proto__", "z"]] });
  expect(paid.paymentRequired).toBe(true);
  const forwarded = hook.calls.map((c) => (c.json as { headers: Record<string, string[]> }).headers);
  expect(Object.getOwnPropertyDescriptor(forwarded[0], "__proto__")?.value).toEqual(["x"]);
  expect(forwarded[0]!["Constructor"]).toEqual(["y"]);
  // Node's parsed headers (which Connect reads) drop the name; the call is authorized and paid all the same.
  expect(forwarded).toHaveLength(2);
});

test("a cross-site browser POST to a legacy endpoint is refused with 403 before any work", async () => {
  const hook = await webhook();
  const srv = await start({
    overrides: { webhook: createAuthWebhook({ url: hook.url, headers: {}, timeoutMs: 5000 }) },
    server: { corsOrigins: ["https://dash.example"] },
  });
  const signed = srv.signer.signCount();
  const formPost = (headers: Record<string, string>) => legacyPay(srv, { "Content-Type": "text/plain", ...headers });
  const refused: Record<string, string>[] = [
    { "Sec-Fetch-Site": "cross-site" },
    { "Sec-Fetch-Site": "same-site" },
    { Origin: "https://evil.example" },
    { Origin: "null" },
  ];
  for (const headers of refused) {
    const res = await formPost(headers);
    expect(res.status, JSON.stringify(headers)).toBe(403);
    expect(res.body).toMatch(/^403 cross-site request refused/);
  }
  const info = await rawRequest(`${srv.url}/sign-orchestrator-info`, { method: "POST", headers: { "Sec-Fetch-Site": "cross-site" } });
  expect(info.status).toBe(403);
  expect(srv.signer.signCount()).toBe(signed);
  expect(hook.calls).toHaveLength(0);
  expect(sample(await metricsText(srv), 'lpsigner_refused_total{reason="cross-site"}')).toBe(5);

  // What gateways send (neither header), the signer's own page, and an origin -corsOrigins allows.
  expect((await legacyPay(srv)).status).toBe(200);
  expect((await legacyPay(srv, { "Sec-Fetch-Site": "same-origin", Origin: srv.url })).status).toBe(200);
  expect((await legacyPay(srv, { Origin: "https://dash.example" })).status).toBe(200);
  expect((await legacyPay(srv, { "Sec-Fetch-Site": "none" })).status).toBe(200);
});

test("/metrics in one process: a scrape flood costs one collection a second", async () => {
  const srv = await start({ server: { metricsCacheMs: 1000 } });
  const bodies = await Promise.all(Array.from({ length: 16 }, () => metricsText(srv)));
  // Each collection reads CPU, memory and event-loop lag afresh: equal bodies are one collection.
  expect(new Set(bodies).size).toBe(1);
  expect(await metricsText(srv)).toBe(bodies[0]);
  await new Promise((r) => setTimeout(r, 1100));
  expect(await metricsText(srv)).not.toBe(bodies[0]);
});

test("a 100-ticket batch is signed in slices: one-ticket calls are answered while it signs", async () => {
  const srv = await start();
  // A fixed call at 99 tickets' worth of a ticket's EV (just under 1e9 wei) needs 100 tickets.
  const big = orchestratorInfo({ pricePerUnit: 99n * 1_000_000_000n });
  const small = orchestratorInfo();
  const connect = createClient(SignerService, createConnectTransport({ baseUrl: srv.url, httpVersion: "2" }));
  const order: string[] = [];
  const heavy = connect.generateLivePayment(paymentRequest(big, { manifestId: "big", type: JobType.FIXED })).then((r) => (order.push("heavy"), r));
  // Sent right behind it on the same connection: served between two slices of the heavy batch.
  const light = connect.generateLivePayment(paymentRequest(small, { manifestId: "small" })).then((r) => (order.push("light"), r));
  const [h, l] = await Promise.all([heavy, light]);
  expect(h.numTickets).toBe(100);
  expect(l.numTickets).toBeGreaterThan(0);
  expect(order).toEqual(["light", "heavy"]);
});

test("an answered HTTP/2 stream its peer never reads is cancelled, not kept for the session's life", async () => {
  const srv = await start({ server: { limits: { unreadMs: 200 } } });
  const session = h2connect(srv.url, { settings: { initialWindowSize: 0 } });
  session.on("error", () => {});
  const req = session.request({ ":path": "/healthz" });
  req.on("error", () => {});
  req.end();
  const status = await new Promise<number>((resolve) => req.once("response", (h) => resolve(Number(h[":status"]))));
  expect(status).toBe(200);
  // Headers need no window; the body ("ok") does, and is never granted one.
  const [rst] = (await Promise.race([once(req, "close").then(() => [req.rstCode]), new Promise((r) => setTimeout(() => r(["open"]), 5000))])) as [unknown];
  expect(rst).toBe(8); // RST_STREAM CANCEL
  expect(session.destroyed).toBe(false);
  session.destroy();
});

test("/metrics is paced: at most perSecond answers a second, a bounded number waiting, the rest refused at once", async () => {
  const srv = await start({ server: { metricsCacheMs: 1000, metricsPace: { perSecond: 20, maxWaiting: 10 } } });
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: 16 }, async () => {
      const res = await rawRequest(`${srv.url}/metrics`);
      return { status: res.status, ms: performance.now() - started };
    }),
  );
  const ok = results.filter((r) => r.status === 200);
  // One answered at once, ten waiting their turn 50 ms apart, five refused.
  expect(ok).toHaveLength(11);
  expect(results.filter((r) => r.status === 503)).toHaveLength(5);
  expect(Math.max(...ok.map((r) => r.ms))).toBeGreaterThanOrEqual(450);
  expect(Math.max(...results.filter((r) => r.status === 503).map((r) => r.ms))).toBeLessThan(400);
});
