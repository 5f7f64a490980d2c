/**
 * Floods of valid-looking requests for bench/soak-hostile.ts (issue 22): each runs until its
 * signal aborts and counts its outcomes. Loopback only, bounded in number.
 * - streams: WatchSignerActivity streams at the shortest interval that are never read, over
 *   HTTP/2 connections (kept alive by PINGs) and raw HTTP/1.1 sockets; a refused or dropped
 *   stream is opened again a second later;
 * - 100-ticket calls: first calls of sessions priced at 100 tickets, back to back;
 * - scrapes: GET /metrics, back to back.
 */
import { connect as h2connect, type ClientHttp2Session } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import { randomBytes } from "node:crypto";
import { request as httpRequest, Agent } from "node:http";
import { MAX_WIN_PROB } from "../../src/pm/ticket.js";
import { orchestratorInfo, orchestratorInfoBytes } from "../../test/support/fixtures.js";

export type Tally = Map<string, number>;
const bump = (m: Tally, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((r) => {
    const t = setTimeout(() => (signal.removeEventListener("abort", wake), r()), ms);
    const wake = () => (clearTimeout(t), r());
    signal.addEventListener("abort", wake, { once: true });
  });

const WATCH = "/livepeer.signer.v1.SignerService/WatchSignerActivity";
/** An enveloped WatchSignerActivityRequest{interval_ms: 250}: field 1, varint 250. */
const WATCH_BODY = Buffer.from([0, 0, 0, 0, 3, 0x08, 0xfa, 0x01]);

/** `count` never-read streams: half on HTTP/2 (20 connections, PINGs every 5 s), half on raw HTTP/1.1 sockets. */
export async function streamFlood(url: string, count: number, signal: AbortSignal, tally: Tally): Promise<void> {
  const { port } = new URL(url);
  const sessions: ClientHttp2Session[] = [];
  const sockets = new Set<Socket>();
  const h2 = (i: number) => {
    let s = sessions[i];
    if (!s || s.destroyed || s.closed) {
      s = h2connect(url, { settings: { initialWindowSize: 0 } });
      s.on("error", () => {});
      sessions[i] = s;
    }
    return s;
  };
  const ping = setInterval(() => {
    for (const s of sessions) if (s && !s.destroyed) s.ping(() => {});
  }, 5000);
  const h2Stream = async (i: number) => {
    while (!signal.aborted) {
      const s = h2(i % 20);
      const outcome = await new Promise<string>((resolve) => {
        const req = s.request({ ":method": "POST", ":path": WATCH, "content-type": "application/connect+proto" });
        req.on("error", () => {});
        req.on("response", (h) => {
          // A refusal comes as an HTTP error status (Connect's streaming errors are in the body: unread, so judged by close).
          if (Number(h[":status"]) !== 200) resolve(`h2 status ${h[":status"]}`);
        });
        req.on("close", () => resolve(req.rstCode === 8 ? "h2 dropped (cancel)" : "h2 closed"));
        req.end(WATCH_BODY);
        req.pause();
        signal.addEventListener("abort", () => (req.close(), resolve("held to the end")), { once: true });
      });
      bump(tally, outcome);
      await sleep(1000, signal);
    }
  };
  const h1Stream = async () => {
    while (!signal.aborted) {
      const outcome = await new Promise<string>((resolve) => {
        const s = netConnect(Number(port), "127.0.0.1");
        sockets.add(s);
        s.on("error", () => {});
        s.on("connect", () => {
          s.write(`POST ${WATCH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/connect+proto\r\nContent-Length: ${WATCH_BODY.length}\r\n\r\n`);
          s.write(WATCH_BODY);
          // Read the status line only, then stop reading.
          s.once("data", (c: Buffer) => {
            const status = /^HTTP\/1\.1 (\d{3})/.exec(c.toString("latin1"))?.[1];
            if (status !== "200") resolve(`h1 status ${status}`);
            s.pause();
          });
        });
        s.on("close", () => (sockets.delete(s), resolve("h1 closed")));
        signal.addEventListener("abort", () => (s.destroy(), resolve("held to the end")), { once: true });
      });
      bump(tally, outcome);
      await sleep(1000, signal);
    }
  };
  await Promise.all([
    ...Array.from({ length: Math.ceil(count / 2) }, (_, i) => h2Stream(i)),
    ...Array.from({ length: Math.floor(count / 2) }, () => h1Stream()),
  ]);
  clearInterval(ping);
  for (const s of sessions) s?.destroy();
  for (const s of sockets) s.destroy();
}

const FACE_VALUE = 1_000_000_000_000n;
const WIN_PROB = MAX_WIN_PROB / 1000n;
/** A `fixed` first call at 100 tickets' EV. */
const HUNDRED_TICKETS = Buffer.from(
  orchestratorInfoBytes(
    orchestratorInfo({
      pricePerUnit: ((FACE_VALUE * WIN_PROB) / MAX_WIN_PROB) * 100n,
      pixelsPerUnit: 1n,
      faceValue: FACE_VALUE,
      winProb: WIN_PROB,
      expirationBlock: 1n << 40n,
      authExpiration: BigInt(Math.floor(Date.now() / 1000)) + 24n * 3600n,
    }),
  ),
).toString("base64");

/** `loops` clients each paying 100-ticket first calls back to back over a keep-alive connection. */
export async function hundredTicketFlood(url: string, loops: number, signal: AbortSignal, tally: Tally): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: loops });
  const one = () =>
    new Promise<string>((resolve) => {
      const body = `{"orchestrator":"${HUNDRED_TICKETS}","ManifestID":"${randomBytes(4).toString("hex")}","type":"fixed"}`;
      const req = httpRequest(`${url}/generate-live-payment`, { method: "POST", agent, headers: { "Content-Type": "application/json" } }, (res) => {
        let size = 0;
        res.on("data", (c: Buffer) => (size += c.length));
        res.on("end", () => resolve(res.statusCode === 200 ? (size > 10_000 ? "200 (100 tickets)" : "200 (small)") : String(res.statusCode)));
      });
      req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (!signal.aborted) bump(tally, await one());
    }),
  );
  agent.destroy();
}

/** `loops` clients each scraping /metrics back to back over a keep-alive connection. */
export async function scrapeFlood(url: string, loops: number, signal: AbortSignal, tally: Tally): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: loops });
  const one = () =>
    new Promise<string>((resolve) => {
      const req = httpRequest(`${url}/metrics`, { agent }, (res) => {
        res.resume();
        res.on("end", () => resolve(String(res.statusCode)));
      });
      req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
      req.end();
    });
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (!signal.aborted) bump(tally, await one());
    }),
  );
  agent.destroy();
}
