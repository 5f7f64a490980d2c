/**
 * HTTP/2 bounds (issue 11 item 5): the server advertises a concurrent-stream limit, refuses
 * streams past it while it keeps answering, and cancels a stream whose request half never ends.
 */
import { once } from "node:events";
import { connect as h2connect, constants } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import { afterEach, expect, test } from "vitest";
import { DEFAULT_LIMITS } from "../../src/server/create-server.js";
import { rawRequest, startTestServer, type RunningTestServer } from "../support/net-server.js";

const servers: RunningTestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close(100);
});

async function start(limits: Partial<typeof DEFAULT_LIMITS> = {}): Promise<RunningTestServer> {
  const srv = await startTestServer({ server: { limits } });
  servers.push(srv);
  return srv;
}

const FRAME = { HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, GOAWAY: 0x7 };
const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK "literal without indexing, indexed name" (static table index < 15, value < 127 bytes). */
const literal = (nameIndex: number, value: string) => Buffer.concat([Buffer.from([nameIndex, value.length]), Buffer.from(value)]);

/**
 * A raw HTTP/2 client that does not hold itself to the server's limit (as an attacker would not):
 * it opens `count` POST streams that never send a body and records the frames it gets back.
 */
async function openStreams(port: number, count: number) {
  const socket: Socket = netConnect(port, "127.0.0.1");
  socket.on("error", () => {});
  await once(socket, "connect");
  const frames: { type: number; flags: number; streamId: number; payload: Buffer }[] = [];
  let buf = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
      const len = buf.readUIntBE(0, 3);
      frames.push({ type: buf[3]!, flags: buf[4]!, streamId: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, 9 + len) });
      buf = buf.subarray(9 + len);
    }
  });
  const block = Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http
    literal(4, "/generate-live-payment"), // :path
    literal(1, `127.0.0.1:${port}`), // :authority
  ]);
  const out = [Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(FRAME.SETTINGS, 0, 0)];
  for (let i = 0; i < count; i++) out.push(frame(FRAME.HEADERS, 0x4 /* END_HEADERS, not END_STREAM */, 1 + 2 * i, block));
  socket.write(Buffer.concat(out));
  return { socket, frames };
}

test("SETTINGS advertise the concurrent-stream bound; streams past it are refused and the server keeps answering", async () => {
  const limit = 5;
  const srv = await start({ maxConcurrentStreams: limit });
  const { socket, frames } = await openStreams(srv.port, limit + 3);
  try {
    const refused = (f: (typeof frames)[number]) =>
      (f.type === FRAME.RST_STREAM && f.streamId > 2 * limit && f.payload.readUInt32BE(0) === constants.NGHTTP2_REFUSED_STREAM) ||
      (f.type === FRAME.GOAWAY && (f.payload.readUInt32BE(0) & 0x7fffffff) < 1 + 2 * limit);
    const deadline = Date.now() + 3000;
    while (!frames.some(refused) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

    const settings = frames.find((f) => f.type === FRAME.SETTINGS && (f.flags & 0x1) === 0)!;
    const advertised = new Map<number, number>();
    for (let i = 0; i + 6 <= settings.payload.length; i += 6) advertised.set(settings.payload.readUInt16BE(i), settings.payload.readUInt32BE(i + 2));
    expect(advertised.get(SETTINGS_MAX_CONCURRENT_STREAMS)).toBe(limit);
    expect(frames.some(refused)).toBe(true);
    // None of the first `limit` streams was refused.
    expect(frames.filter((f) => f.type === FRAME.RST_STREAM && f.streamId < 2 * limit)).toEqual([]);
    expect((await rawRequest(`${srv.url}/healthz`)).status).toBe(200);
  } finally {
    socket.destroy();
  }
});

test("the default bound is advertised to an ordinary HTTP/2 client", async () => {
  const srv = await start();
  const session = h2connect(srv.url);
  try {
    const [settings] = (await once(session, "remoteSettings")) as [{ maxConcurrentStreams?: number }];
    expect(settings.maxConcurrentStreams).toBe(DEFAULT_LIMITS.maxConcurrentStreams);
    expect(DEFAULT_LIMITS.maxConcurrentStreams).toBeGreaterThanOrEqual(100);
    expect(DEFAULT_LIMITS.maxConcurrentStreams).toBeLessThanOrEqual(250);
  } finally {
    session.close();
  }
});

test("a stream whose request half never ends is cancelled after requestMs, nothing signed", async () => {
  const srv = await start({ requestMs: 300, sessionIdleMs: 10_000 });
  const before = srv.signer.signCount();
  const session = h2connect(srv.url);
  session.on("error", () => {});
  try {
    const stream = session.request({ ":method": "POST", ":path": "/generate-live-payment" }, { endStream: false });
    stream.on("error", () => {});
    stream.write("{");
    const started = Date.now();
    await Promise.race([once(stream, "close"), new Promise((_, reject) => setTimeout(() => reject(new Error("stream still open")), 3000))]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(stream.rstCode).toBe(constants.NGHTTP2_CANCEL);
    expect(srv.signer.signCount()).toBe(before);
  } finally {
    session.close();
  }
});

test("a flood of streams on one connection ends that connection; the server keeps answering", async () => {
  const srv = await start({ maxConcurrentStreams: 10 });
  const { socket, frames } = await openStreams(srv.port, 2000);
  try {
    const deadline = Date.now() + 3000;
    while (!socket.destroyed && !socket.readableEnded && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Refused streams past Node's rejected-stream budget end the session (GOAWAY, then close).
    expect(frames.some((f) => f.type === FRAME.GOAWAY)).toBe(true);
    expect(socket.destroyed || socket.readableEnded).toBe(true);
    expect((await rawRequest(`${srv.url}/healthz`)).status).toBe(200);
  } finally {
    socket.destroy();
  }
});
