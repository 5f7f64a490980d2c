/**
 * Hostile clients for bench/soak-hostile.ts (issue 11): each attack makes one attempt against the
 * signer on loopback and resolves with how it was answered ("400", "closed", "reset", …).
 * Every attempt ends by itself: the client gives up after `HOLD_MS` ("held" means the signer
 * kept the connection that long).
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { connect as h2connect } from "node:http2";
import { connect, type Socket } from "node:net";
import { JobType, SignerService } from "../../gen/livepeer/signer/v1/signer_pb.js";
import { CapabilitiesSchema } from "../../gen/net/lp_rpc_pb.js";
import { orchestratorInfoBytes } from "../../test/support/fixtures.js";
import { benchOrchestratorInfo } from "./gateway.js";

export const HOLD_MS = 40_000;
const CONNECT_PATH = "/livepeer.signer.v1.SignerService/GenerateLivePayment";

export type Attack = (signal: AbortSignal) => Promise<string>;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((r) => {
    const wake = () => (clearTimeout(t), r());
    const t = setTimeout(() => (signal.removeEventListener("abort", wake), r()), ms);
    signal.addEventListener("abort", wake, { once: true });
  });

/**
 * One raw TCP connection: `talk` writes to it; the outcome is the status of the first response
 * line, "closed" (closed with no answer), "reset" (by the signer) or "held" (still open at HOLD_MS
 * or when the soak ends).
 */
function raw(port: number, signal: AbortSignal, talk: (s: Socket, signal: AbortSignal) => Promise<void> | void): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    let first = "";
    let outcome: string | undefined;
    const done = (o: string) => {
      outcome ??= o;
      clearTimeout(timer);
      signal.removeEventListener("abort", giveUp);
      s.destroy();
      resolve(outcome);
    };
    const hold = new AbortController();
    const giveUp = () => (hold.abort(), done("held"));
    const timer = setTimeout(giveUp, HOLD_MS);
    signal.addEventListener("abort", giveUp, { once: true });
    s.on("data", (c: Buffer) => {
      if (first.length < 4096) first += c.toString("latin1");
      const m = /^HTTP\/1\.1 (\d{3})[^]*?\r\n\r\n/.exec(first);
      if (m) outcome ??= m[1]! + (/\r\naccess-control-allow-origin:/i.test(m[0]) ? " with CORS allowance" : "");
    });
    s.on("error", (e: NodeJS.ErrnoException) => done(e.code === "ECONNRESET" ? "reset" : (e.code ?? "error")));
    s.on("close", () => done(first ? "bytes" : "closed"));
    s.on("connect", () => void Promise.resolve(talk(s, hold.signal)).catch(() => undefined));
  });
}

const head = (extra = "", method = "POST", path = "/generate-live-payment") => `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}`;

/** A legacy payment body for a valid orchestrator, with `extra` JSON fields appended. */
function legacyBody(extra: string): string {
  const orch = Buffer.from(orchestratorInfoBytes(benchOrchestratorInfo())).toString("base64");
  return `{"orchestrator":"${orch}","ManifestID":"m","type":"lv2v"${extra}}`;
}

/** One request on its own connection, closed after the answer. */
function request(port: number, signal: AbortSignal, headers: string, body = ""): Promise<string> {
  return raw(port, signal, (s) => {
    s.write(`${headers}Connection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
    s.end(body);
  });
}

export function attacks(url: string): Record<string, Attack> {
  const port = Number(new URL(url).port);
  const HUGE = "1." + "3".repeat(200_000);
  const SPACES = " ".repeat(100_000);
  const ALL_ONES = (1n << 64n) - 1n;
  const client = createClient(SignerService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
  return {
    "slow headers": (sig) =>
      raw(port, sig, async (s, hold) => {
        s.write(head());
        for (let i = 0; !hold.aborted && !s.destroyed; i++) {
          s.write(`X-Slow-${i}: 1\r\n`);
          await sleep(2000, hold);
        }
      }),
    "silent after connect": (sig) => raw(port, sig, () => undefined),
    "slow body": (sig) =>
      raw(port, sig, async (s, hold) => {
        s.write(head("Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"));
        while (!hold.aborted && !s.destroyed) {
          s.write("x");
          await sleep(2000, hold);
        }
      }),
    "1 GiB body declared": (sig) => raw(port, sig, (s) => void s.write(head(`Content-Length: ${2 ** 30}\r\n\r\n`) + "{\"orchestr")),
    "reset before first byte": () =>
      new Promise((resolve) => {
        const s = connect(port, "127.0.0.1", () => (s.resetAndDestroy(), resolve("RST sent")));
        s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
      }),
    "maxPrice 1.+200k digits": (sig) =>
      request(port, sig, head("Content-Type: application/json\r\n"), legacyBody(`,"maxPrice":{"price":"${HUGE}","currency":"wei","unit":"720p-pixel-seconds"}`)),
    "currency 100k spaces": (sig) =>
      request(port, sig, head("Content-Type: application/json\r\n"), legacyBody(`,"maxPrice":{"price":"5","currency":"${SPACES}","unit":"720p-pixel-seconds"}`)),
    "deep JSON (10k)": (sig) => request(port, sig, head("Content-Type: application/json\r\n"), `{"x":${"[".repeat(10_000)}${"]".repeat(10_000)}}`),
    "capabilities all ones": () =>
      client
        .generateLivePayment({ orchestrator: benchOrchestratorInfo(), type: JobType.FIXED, manifestId: "m", capabilities: create(CapabilitiesSchema, { bitstring: Array(50_000).fill(ALL_ONES) }) })
        .then(
          () => "OK",
          (e: unknown) => `Connect ${Code[ConnectError.from(e).code]}`,
        ),
    "cross-origin preflight": (sig) =>
      request(port, sig, head("Origin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\n", "OPTIONS", CONNECT_PATH)),
    "bad Host": (sig) =>
      request(port, sig, "POST /generate-live-payment HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\n", legacyBody("")),
    "h2 stream flood (1000)": (sig) => h2Flood(url, 1000, sig),
  };
}

/**
 * One HTTP/2 connection opening `n` streams that send headers and never finish their bodies.
 * The outcome tallies how the streams ended, e.g. "refused 900, 408 100".
 */
function h2Flood(url: string, n: number, signal: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    const session = h2connect(url);
    session.on("error", () => undefined);
    const tally = new Map<string, number>();
    let open = n;
    const end = (label: string) => {
      tally.set(label, (tally.get(label) ?? 0) + 1);
      if (--open === 0) finish();
    };
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      if (open > 0) tally.set("held", open);
      session.destroy();
      resolve([...tally].map(([k, v]) => `${k} ${v}`).sort().join(", "));
    };
    const timer = setTimeout(finish, HOLD_MS);
    signal.addEventListener("abort", finish, { once: true });
    for (let i = 0; i < n; i++) {
      const st = session.request({ ":method": "POST", ":path": CONNECT_PATH, "content-type": "application/json" });
      let label = "";
      st.on("response", (h) => (label = String(h[":status"])));
      st.on("error", () => undefined);
      st.on("data", () => undefined);
      st.on("close", () => end(label || `rst ${st.rstCode}`)); // 7 REFUSED_STREAM, 8 CANCEL
      st.write("{");
    }
  });
}
