import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fromHex, keccak256, utf8 } from "../src/crypto/bytes.js";
import { verifySignature } from "../src/crypto/eth-sign.js";
import { createSignerMetrics, createSignerServer, type SignerServer } from "../src/server/create-server.js";
import { signOrchestratorInfo } from "../src/crypto/eth-sign.js";
import { openState } from "../src/state/payment-state.js";
import { Rat } from "../src/math/rat.js";
import { orchestratorInfo, orchestratorInfoBytes, testDeps, testOrchestrator, T0 } from "./support/fixtures.js";
import { createPaymentVerifier } from "../src/dev-orchestrator/payment-verifier.js";

const { deps, signer, clock } = testDeps();
let server: SignerServer;
let base: string;

beforeAll(async () => {
  server = createSignerServer({
    service: { payments: deps, orchInfoSignature: signOrchestratorInfo(signer), status: () => ({}) },
    legacy: {},
    logger: pino({ level: "silent" }),
    metrics: createSignerMetrics(),
    corsOrigins: ["*"],
  });
  const { port } = await server.listen("127.0.0.1", 0);
  base = `http://127.0.0.1:${port}`;
});
afterAll(() => server.close(100));

/** A request body shaped exactly like go-livepeer's gateway sends it. */
function gatewayBody(o: { info: Uint8Array; state?: { State: string; Sig: string }; manifestId?: string; type?: string }) {
  return JSON.stringify({
    state: o.state ?? { State: null, Sig: null },
    orchestrator: Buffer.from(o.info).toString("base64"),
    ManifestID: o.manifestId ?? "stream-1",
    inPixels: 0,
    type: o.type ?? "lv2v",
    capabilities: null,
  });
}

async function post(path: string, body: string | undefined, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, { method: "POST", body, headers: { "Content-Type": "application/json", ...headers } });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe("POST /sign-orchestrator-info", () => {
  test("returns the checksummed address and a signature that verifies under the orchestrator's rule", async () => {
    const res = await post("/sign-orchestrator-info", undefined);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const body = JSON.parse(res.text) as { address: string; signature: string };
    expect(res.text).toBe(`{"address":"${signer.addressHex}","signature":"${body.signature}"}\n`);
    expect(body.signature).toMatch(/^0x[0-9a-f]{130}$/);
    expect(verifySignature(signer.address, keccak256(utf8.encode(body.address)), fromHex(body.signature))).toBe(true);
  });
});

describe("POST /generate-live-payment as an unmodified gateway calls it", () => {
  test("a session of calls: every payment verifies, nonces continue, balance accounts exactly", async () => {
    const orch = testOrchestrator();
    const info = orchestratorInfo({ orch, pricePerUnit: 1n });
    const verifier = createPaymentVerifier({ orch, sender: signer.address, expectedPrice: { pricePerUnit: 1n, pixelsPerUnit: 1n }, lastSeenL1Block: () => 1000n });
    clock.set(T0);
    let state: { State: string; Sig: string } | undefined;
    let totalFee = 0n;
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await post("/generate-live-payment", gatewayBody({ info: orchestratorInfoBytes(info), state }));
      statuses.push(res.status);
      expect([200, 482], res.text).toContain(res.status);
      expect(res.text.endsWith("}\n")).toBe(true);
      const body = JSON.parse(res.text) as { payment: string; segCreds: string; state: { State: string; Sig: string } };
      if (res.status === 200) {
        expect(Object.keys(body)).toEqual(["payment", "segCreds", "state"]);
        verifier.accept(body.payment, body.segCreds, "stream-1");
      } else {
        expect(Object.keys(body)).toEqual(["error", "state"]);
      }
      state = body.state;
      const decoded = openState({ state: Buffer.from(state.State, "base64"), sig: Buffer.from(state.Sig, "base64") }, signer.address);
      expect(decoded.sequenceNumber).toBe(BigInt(i));
      expect(decoded.senderNonce).toBe(verifier.nonces().at(-1));
      totalFee += i === 0 ? 1658880000n : 27648000n * 30n;
      // Orchestrator-side credit (EV received minus fees) equals the state's balance, never negative.
      const credit = verifier.received().sub(new Rat(totalFee));
      expect(credit.toString()).toBe(decoded.balance);
      expect(credit.sign()).toBeGreaterThanOrEqual(0);
      clock.advance(30);
    }
    expect(statuses).toContain(482);
    expect(verifier.nonces()).toEqual(Array.from({ length: verifier.nonces().length }, (_, i) => i + 1));
  });

  test("replies carry a Content-Length, as Go's net/http sends a small reply, not chunked framing", async () => {
    for (const [path, body] of [
      ["/generate-live-payment", gatewayBody({ info: orchestratorInfoBytes(orchestratorInfo()) })],
      ["/generate-live-payment", "{"],
      // A reply that is not ASCII: Go echoes the character, as UTF-8.
      ["/generate-live-payment", "ü"],
      ["/sign-orchestrator-info", undefined],
    ] as const) {
      const res = await post(path, body);
      expect(res.headers.get("content-length"), path).toBe(String(Buffer.byteLength(res.text)));
      if (body === "ü") expect(JSON.parse(res.text)).toEqual({ error: { message: "invalid character 'ü' looking for beginning of value" } });
      expect(res.headers.get("transfer-encoding")).toBeNull();
    }
  });

  test("trailing bytes after the JSON object are ignored, as Go's json.Decoder does", async () => {
    const res = await post("/generate-live-payment", gatewayBody({ info: orchestratorInfoBytes(orchestratorInfo()) }) + "garbage");
    expect(res.status).toBe(200);
  });

  const errorCases: [string, () => string, number, string][] = [
    ["not JSON", () => "{nope", 400, ""],
    ["empty body", () => "", 400, ""],
    ["missing orchestrator", () => JSON.stringify({ ManifestID: "m", type: "lv2v" }), 400, "missing orchestrator"],
    ["orchestrator not base64", () => JSON.stringify({ orchestrator: "%%%", type: "lv2v" }), 400, ""],
    ["orchestrator not protobuf", () => JSON.stringify({ orchestrator: Buffer.from([0xff, 0xff, 0xff]).toString("base64"), type: "lv2v" }), 400, ""],
    ["inPixels as a string", () => JSON.stringify({ orchestrator: Buffer.from(orchestratorInfoBytes(orchestratorInfo())).toString("base64"), inPixels: "5" }), 400, ""],
    ["zero price", () => gatewayBody({ info: orchestratorInfoBytes(orchestratorInfo({ pricePerUnit: 0n })) }), 400, "missing or zero priceInfo"],
    ["invalid job type", () => gatewayBody({ info: orchestratorInfoBytes(orchestratorInfo()), type: "bogus" }), 400, "invalid job type"],
    ["no units", () => gatewayBody({ info: orchestratorInfoBytes(orchestratorInfo()), type: "" }), 400, "missing billable unit or job type"],
    ["forged state", () => gatewayBody({ info: orchestratorInfoBytes(orchestratorInfo()), state: { State: "e30=", Sig: Buffer.alloc(65).toString("base64") } }), 400, "invalid sig"],
    ["too many tickets", () => gatewayBody({ info: orchestratorInfoBytes(orchestratorInfo({ pricePerUnit: 10n, faceValue: 1_000_000_000n, winProb: (1n << 256n) / 100n })) }), 400, "numTickets 1659 exceeds maximum of 100"],
    ["maxTotalEV (n-ticket check)", () => gatewayBody({ info: orchestratorInfoBytes(orchestratorInfo({ pricePerUnit: 12_700n, faceValue: 2_990_000_000_000n, winProb: (1n << 256n) - 2n })) }), 500, "Internal Server Error"],
  ];
  test.each(errorCases)("%s → %i with the reference's envelope", async (_name, body, status, message) => {
    const before = signer.signCount();
    clock.set(T0);
    const res = await post("/generate-live-payment", body());
    expect(res.status, res.text).toBe(status);
    expect(res.headers.get("content-type")).toBe("application/json");
    const parsed = JSON.parse(res.text) as { error: { message: string } };
    expect(Object.keys(parsed)).toEqual(["error"]);
    if (message) expect(parsed.error.message).toBe(message);
    expect(res.text.endsWith("\n")).toBe(true);
    expect(signer.signCount()).toBe(before);
  });

  test("480 carries Livepeer-Orchestrator-URL", async () => {
    clock.set(T0);
    const info = orchestratorInfo({ authExpiration: T0 / 1_000_000_000n + 100n, transcoder: "https://orch.example:8935" });
    const res = await post("/generate-live-payment", gatewayBody({ info: orchestratorInfoBytes(info) }));
    expect(res.status).toBe(480);
    expect(res.headers.get("livepeer-orchestrator-url")).toBe("https://orch.example:8935");
    expect(JSON.parse(res.text)).toEqual({ error: { message: "refresh session for remote signer" } });
  });

  test("481 when the request maxPrice is below the orchestrator's price", async () => {
    clock.set(T0);
    const body = JSON.parse(gatewayBody({ info: orchestratorInfoBytes(orchestratorInfo({ pricePerUnit: 3n, pixelsPerUnit: 2n })) })) as Record<string, unknown>;
    body.maxPrice = { price: "1.25", currency: "WEI", unit: "720p-pixel-seconds" };
    const res = await post("/generate-live-payment", JSON.stringify(body));
    expect(res.status).toBe(481);
    expect(JSON.parse(res.text)).toEqual({ error: { message: "orchestrator price 1.500 exceeds request maxPrice ceiling 1.250" } });
  });

  test("482 keeps the reference's envelope and adds the advanced state", async () => {
    clock.set(T0);
    const orch = testOrchestrator();
    // Fees far below one ticket's EV: the second call's ticket leaves credit above EV.
    const info = orchestratorInfoBytes(orchestratorInfo({ orch, pricePerUnit: 1n }));
    const first = JSON.parse((await post("/generate-live-payment", gatewayBody({ info, type: "live" }))).text) as { state: { State: string; Sig: string } };
    clock.advance(1);
    const second = JSON.parse((await post("/generate-live-payment", gatewayBody({ info, type: "live", state: first.state }))).text) as { state: { State: string; Sig: string } };
    clock.advance(1);
    const before = signer.signCount();
    const res = await post("/generate-live-payment", gatewayBody({ info, type: "live", state: second.state }));
    expect(signer.signCount() - before).toBe(1); // the state only
    expect(res.status).toBe(482);
    const body = JSON.parse(res.text) as { error: { message: string }; state: { State: string; Sig: string } };
    expect(body.error).toEqual({ message: "no tickets" });
    const s = openState({ state: Buffer.from(body.state.State, "base64"), sig: Buffer.from(body.state.Sig, "base64") }, signer.address);
    expect(s.sequenceNumber).toBe(2n);
    expect(s.lastUpdate).toBe(T0 + 2_000_000_000n);
  });
});

describe("robustness", () => {
  test("parallel sessions over HTTP each get their own verified tickets", async () => {
    clock.set(T0);
    const sessions = Array.from({ length: 40 }, () => testOrchestrator());
    const results = await Promise.all(
      sessions.map(async (orch) => {
        const res = await post("/generate-live-payment", gatewayBody({ info: orchestratorInfoBytes(orchestratorInfo({ orch })) }));
        return { orch, res };
      }),
    );
    for (const { orch, res } of results) {
      expect(res.status).toBe(200);
      const body = JSON.parse(res.text) as { payment: string; segCreds: string };
      const verifier = createPaymentVerifier({ orch, sender: signer.address, expectedPrice: { pricePerUnit: 1n, pixelsPerUnit: 1n }, lastSeenL1Block: () => 1000n });
      expect(verifier.accept(body.payment, body.segCreds, "stream-1").ticketSenderParams.map((t) => t.senderNonce)).toEqual([1, 2]);
    }
  });

  test("fuzzed bodies never crash the server or get a 500", async () => {
    clock.set(T0);
    const valid = gatewayBody({ info: orchestratorInfoBytes(orchestratorInfo()) });
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const chars = [...valid];
      const edits = 1 + rand(4);
      for (let e = 0; e < edits; e++) {
        const at = rand(chars.length);
        const op = rand(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, String.fromCharCode(32 + rand(95)));
        else chars[at] = String.fromCharCode(rand(256));
      }
      const res = await post("/generate-live-payment", chars.join(""));
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect([200, 400, 480, 481, 482]).toContain(res.status);
    }
    expect((await fetch(base + "/healthz")).status).toBe(200);
    expect(statuses.get(400)).toBeGreaterThan(0);
  });

  test("unknown paths get 404", async () => {
    expect((await post("/nope", "{}")).status).toBe(404);
  });
});

describe("routing as Go's ServeMux", () => {
  test("a wrong method on a legacy path is 405 with Allow", async () => {
    const res = await fetch(base + "/generate-live-payment");
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
  });
});

describe("the test orchestrator", () => {
  test("rejects a replayed payment (nonces already seen)", async () => {
    clock.set(T0);
    const orch = testOrchestrator();
    const res = await post("/generate-live-payment", gatewayBody({ info: orchestratorInfoBytes(orchestratorInfo({ orch })) }));
    const body = JSON.parse(res.text) as { payment: string; segCreds: string };
    const verifier = createPaymentVerifier({ orch, sender: signer.address, expectedPrice: { pricePerUnit: 1n, pixelsPerUnit: 1n }, lastSeenL1Block: () => 1000n });
    verifier.accept(body.payment, body.segCreds, "stream-1");
    expect(() => verifier.accept(body.payment, body.segCreds, "stream-1")).toThrow(/already seen/);
  });
});

describe("edge inputs answered as the reference answers them", () => {
  const orchB64 = (o = orchestratorInfo()) => Buffer.from(orchestratorInfoBytes(o)).toString("base64");
  const messages: [string, string, number, string][] = [
    ["empty body", "", 400, "EOF"],
    ["truncated object", "{", 400, "unexpected EOF"],
    ["not JSON", "x", 400, "invalid character 'x' looking for beginning of value"],
    ["wrong type", '{"app":1}', 400, "json: cannot unmarshal number into Go struct field RemotePaymentRequest.app of type string"],
    ["bad base64", '{"orchestrator":"!!"}', 400, "illegal base64 data at input byte 0"],
    ["bad protobuf", JSON.stringify({ orchestrator: Buffer.from([0x0a, 0x05, 0x01]).toString("base64") }), 400, "proto: cannot parse invalid wire-format data"],
    // Capabilities are decoded after the price and state checks, as in the reference.
    ["bad capabilities and no price", JSON.stringify({ orchestrator: Buffer.from([0x0a, 0x01, 0x61]).toString("base64"), capabilities: "AQ==" }), 400, "missing or zero priceInfo"],
    ["a repeated key is decoded in order (a type error anywhere fails)", `{"app":1,"app":"x","orchestrator":"${orchB64()}"}`, 400, "json: cannot unmarshal number into Go struct field RemotePaymentRequest.app of type string"],
  ];
  test.each(messages)("%s", async (_name, body, status, message) => {
    const res = await post("/generate-live-payment", body);
    expect(res.status).toBe(status);
    expect(JSON.parse(res.text)).toEqual({ error: { message } });
  });

  test("a ticket count that wraps in int64 reads as no tickets (482, no state)", async () => {
    clock.set(T0);
    const body = gatewayBody({ info: orchestratorInfoBytes(orchestratorInfo({ faceValue: 1n, winProb: 1n })), type: "fixed" });
    const res = await post("/generate-live-payment", body);
    expect(res.status).toBe(482);
    expect(JSON.parse(res.text)).toEqual({ error: { message: "no tickets" } });
  });

  test("an auth token expiring near the int64 limit reads as expired (Go's time.Unix overflow)", async () => {
    clock.set(T0);
    const info = orchestratorInfo({ authExpiration: (1n << 63n) - 1n, transcoder: "https://o.example/ü\n" });
    const res = await post("/generate-live-payment", gatewayBody({ info: orchestratorInfoBytes(info) }));
    expect(res.status).toBe(480);
    // CR/LF become spaces and are trimmed; UTF-8 bytes go out as they are.
    expect(Buffer.from(res.headers.get("livepeer-orchestrator-url")!, "latin1").toString("utf8")).toBe("https://o.example/ü");
  });

  test("Signer-Auth-Id: the first of repeated headers, read as UTF-8", async () => {
    clock.set(T0);
    const net = await import("node:net");
    const body = Buffer.from(gatewayBody({ info: orchestratorInfoBytes(orchestratorInfo()) }));
    const url = new URL(base);
    // Raw bytes on the wire: a UTF-8 header value and a repeated header.
    const head = Buffer.concat([
      Buffer.from(`POST /generate-live-payment HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nSigner-Auth-Id: `),
      Buffer.from("ü-a", "utf8"),
      Buffer.from("\r\nSigner-Auth-Id: b\r\n\r\n"),
    ]);
    const raw = await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const sock = net.connect(Number(url.port), url.hostname, () => sock.end(Buffer.concat([head, body])));
      sock.on("data", (c: Buffer) => chunks.push(c));
      sock.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      sock.on("error", reject);
    });
    expect(raw.startsWith("HTTP/1.1 200")).toBe(true);
    const payload = raw.slice(raw.indexOf("\r\n\r\n") + 4);
    const text = payload.slice(payload.indexOf("{"), payload.lastIndexOf("}") + 1); // body, chunked or not
    expect(text).toContain('"state"');
    const st = (JSON.parse(text) as { state: { State: string; Sig: string } }).state;
    const s = openState({ state: Buffer.from(st.State, "base64"), sig: Buffer.from(st.Sig, "base64") }, signer.address);
    expect(s.authId).toBe("ü-a");
  });
});
