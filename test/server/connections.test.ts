/**
 * Every connection state is bounded (issue 11 items 1 and 4), on real loopback sockets with
 * small limits: a reset before the first byte, silence, slow headers, a body that never
 * arrives, an idle keep-alive connection, too many connections, and shutdown's drain deadline.
 */
import { once } from "node:events";
import { connect as h2connect } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { afterEach, describe, expect, test } from "vitest";
import type { ConnectionLimits } from "../../src/server/create-server.js";
import { TLS } from "../discovery/fake-orchestrator.js";
import { orchestratorInfo, orchestratorInfoBytes } from "../support/fixtures.js";
import { rawRequest, startTestServer, type RunningTestServer } from "../support/net-server.js";

const servers: RunningTestServer[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close(100);
});

async function start(limits: Partial<ConnectionLimits>): Promise<RunningTestServer> {
  const srv = await startTestServer({ server: { limits } });
  servers.push(srv);
  return srv;
}

/** A raw TCP connection to the signer, connected. */
async function open(port: number): Promise<Socket> {
  const s = netConnect(port, "127.0.0.1");
  sockets.push(s);
  s.on("error", () => {});
  await once(s, "connect");
  return s;
}

/** Resolves with the ms until the server closes the socket (and what it sent), or rejects after limitMs. */
function closedWithin(s: Socket, limitMs: number): Promise<{ ms: number; received: string }> {
  const started = Date.now();
  let received = "";
  s.on("data", (c: Buffer) => (received += c.toString("latin1")));
  return new Promise((resolve, reject) => {
    if (s.destroyed) return resolve({ ms: 0, received });
    const timer = setTimeout(() => reject(new Error(`still open after ${limitMs} ms`)), limitMs);
    s.once("close", () => {
      clearTimeout(timer);
      resolve({ ms: Date.now() - started, received });
    });
  });
}

const healthy = async (srv: RunningTestServer) => (await rawRequest(`${srv.url}/healthz`)).status;

test("a connection reset before its first byte does not crash the signer", async () => {
  const srv = await start({});
  for (let i = 0; i < 5; i++) (await open(srv.port)).resetAndDestroy();
  // Give the server time to see the resets.
  await new Promise((r) => setTimeout(r, 100));
  expect(await healthy(srv)).toBe(200);
});

test("a connection that sends nothing is closed after firstByteMs", async () => {
  const srv = await start({ firstByteMs: 200 });
  const { ms } = await closedWithin(await open(srv.port), 2000);
  expect(ms).toBeGreaterThanOrEqual(150);
  expect(await healthy(srv)).toBe(200);
});

test("HTTP/1: headers that never finish are cut at headersMs", async () => {
  const srv = await start({ headersMs: 300, requestMs: 5000 });
  const s = await open(srv.port);
  s.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
  const { ms, received } = await closedWithin(s, 3000);
  expect(ms).toBeGreaterThanOrEqual(250);
  expect(received).toMatch(/^HTTP\/1\.1 408/);
});

test("HTTP/1: a body declared 1 GiB with 10 bytes sent is dropped at requestMs, nothing signed", async () => {
  const srv = await start({ headersMs: 300, requestMs: 600 });
  const before = srv.signer.signCount();
  const s = await open(srv.port);
  s.write(
    "POST /generate-live-payment HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
      `Content-Length: ${1 << 30}\r\n\r\n{"a":12345`,
  );
  const { ms } = await closedWithin(s, 4000);
  expect(ms).toBeGreaterThanOrEqual(500);
  expect(srv.signer.signCount()).toBe(before);
  expect(await healthy(srv)).toBe(200);
});

test("HTTP/1: an idle keep-alive connection is closed after keepAliveMs", async () => {
  const srv = await start({ keepAliveMs: 300 });
  const s = await open(srv.port);
  const closed = closedWithin(s, 3000);
  s.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  const { ms, received } = await closed;
  expect(received).toMatch(/^HTTP\/1\.1 200/);
  expect(received).toContain("keep-alive");
  expect(ms).toBeGreaterThanOrEqual(250);
});

test("HTTP/2: a session with no streams is closed after sessionIdleMs", async () => {
  const srv = await start({ sessionIdleMs: 300 });
  const session = h2connect(srv.url);
  session.on("error", () => {});
  await once(session, "connect");
  const started = Date.now();
  await Promise.race([once(session, "close"), new Promise((_, reject) => setTimeout(() => reject(new Error("session still open")), 3000))]);
  expect(Date.now() - started).toBeGreaterThanOrEqual(250);
});

test("open connections are bounded by maxConnections; the signer answers again once they go", async () => {
  const srv = await start({ maxConnections: 3, firstByteMs: 10_000 });
  const held = [await open(srv.port), await open(srv.port), await open(srv.port)];
  // The fourth is accepted by the kernel and closed by the server straight away.
  const { ms } = await closedWithin(await open(srv.port), 2000);
  expect(ms).toBeLessThan(1000);
  for (const s of held) expect(s.destroyed).toBe(false);
  for (const s of held) s.destroy();
  await new Promise((r) => setTimeout(r, 50));
  expect(await healthy(srv)).toBe(200);
});

test("shutdown force-closes what remains after the drain deadline", async () => {
  const srv = await startTestServer({ server: { limits: { firstByteMs: 60_000, headersMs: 60_000, requestMs: 60_000 } } });
  const silent = await open(srv.port);
  const slowHeaders = await open(srv.port);
  slowHeaders.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  // A request in flight: its handler waits for a body that never comes.
  const stuck = await open(srv.port);
  stuck.write("POST /generate-live-payment HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{");
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  await srv.close(300);
  expect(Date.now() - started).toBeLessThan(2000);
  for (const s of [silent, slowHeaders, stuck]) await closedWithin(s, 1000);
});

describe("over TLS", () => {
  const startTls = async (limits: Partial<ConnectionLimits>) => {
    const srv = await startTestServer({ server: { limits, tls: { cert: TLS.cert.toString(), key: TLS.key.toString() } } });
    servers.push(srv);
    return srv;
  };

  test("a connection that never starts its handshake is closed after firstByteMs", async () => {
    const srv = await startTls({ firstByteMs: 200 });
    const { ms } = await closedWithin(await open(srv.port), 2000);
    expect(ms).toBeGreaterThanOrEqual(150);
  });

  test("HTTPS/1.1: headers that never finish are cut at headersMs", async () => {
    const srv = await startTls({ headersMs: 300, requestMs: 5000 });
    const s = tlsConnect({ port: srv.port, host: "127.0.0.1", rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] });
    sockets.push(s);
    s.on("error", () => {});
    await once(s, "secureConnect");
    s.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
    const { ms, received } = await closedWithin(s, 3000);
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(received).toMatch(/^HTTP\/1\.1 408/);
  });
});

test("HTTP/2: a payment body whose stream is cancelled at requestMs is not read as a shorter body, nothing signed", async () => {
  const srv = await start({ requestMs: 400 });
  const before = srv.signer.signCount();
  const session = h2connect(srv.url);
  session.on("error", () => {});
  const stream = session.request({ ":method": "POST", ":path": "/generate-live-payment", "content-type": "application/json" });
  stream.on("error", () => {});
  // A whole, valid request, but the request half never ends: the listener cancels the stream.
  const info = Buffer.from(orchestratorInfoBytes(orchestratorInfo())).toString("base64");
  stream.write(`{"orchestrator":"${info}","type":"fixed"}`);
  await once(stream, "close");
  await new Promise((r) => setTimeout(r, 200));
  expect(srv.signer.signCount()).toBe(before);
  session.close();
  expect(await healthy(srv)).toBe(200);
});
