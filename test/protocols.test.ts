/**
 * The signer on a real loopback port, called over every protocol it serves: Connect (HTTP/1.1
 * and h2c), gRPC (h2c) and gRPC-web with generated clients, plus buf curl as an independent
 * client, the health service, /healthz, /metrics, CORS, request size limits and shutdown.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { execFile } from "node:child_process";
import { Agent } from "node:http";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from "vitest";
import { HealthCheckResponse_ServingStatus, Health } from "../gen/grpc/health/v1/health_pb.js";
import {
  PriceExceededDetailSchema,
  RefreshSessionDetailSchema,
  SignerService,
} from "../gen/livepeer/signer/v1/signer_pb.js";
import { keccak256, utf8 } from "../src/crypto/bytes.js";
import { verifySignature } from "../src/crypto/eth-sign.js";
import { createAuthWebhook } from "../src/payment/auth-webhook.js";
import { CHAIN, T0, orchestratorInfo, testDeps, testOrchestrator } from "./support/fixtures.js";
import { allTransports, type NamedTransport } from "./support/net-clients.js";
import {
  gatewayPaymentBody,
  json,
  paymentRequest,
  rawRequest,
  startTestServer,
  startTestWebhook,
  type RunningTestServer,
} from "./support/net-server.js";
import { createPaymentVerifier } from "../src/dev-orchestrator/payment-verifier.js";

const execFileAsync = promisify(execFile);
const REPO_ROOT = join(import.meta.dirname, "..");
const BUF = join(REPO_ROOT, "node_modules", ".bin", "buf");
const SERVICE_PATH = "/livepeer.signer.v1.SignerService";

let srv: RunningTestServer;
let transports: NamedTransport[];

beforeAll(async () => {
  srv = await startTestServer();
  transports = allTransports(srv.url);
});

afterAll(async () => {
  for (const t of transports ?? []) t.close();
  await srv?.close(1000);
});

/** Protocol cases are run by name so that each shows up on its own in the report. */
const PROTOCOLS = ["Connect JSON over HTTP/1.1", "Connect binary over HTTP/2 (h2c)", "gRPC over HTTP/2 (h2c)", "gRPC-web over HTTP/1.1"];
const clientFor = (name: string) => {
  const t = transports.find((x) => x.name === name);
  if (!t) throw new Error(`no transport ${name}`);
  return createClient(SignerService, t.transport);
};

async function connectErrorOf(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectError);
    return err as ConnectError;
  }
  throw new Error("expected the call to fail");
}

describe.each(PROTOCOLS)("%s", (protocol) => {
  test("SignOrchestratorInfo: the signature verifies over keccak256(checksummed address)", async () => {
    const res = await clientFor(protocol).signOrchestratorInfo({});
    expect(res.address).toEqual(srv.signer.address);
    expect(res.addressHex).toBe(srv.signer.addressHex);
    expect(res.signature).toHaveLength(65);
    expect(verifySignature(srv.signer.address, keccak256(utf8.encode(res.addressHex)), res.signature)).toBe(true);
  });

  test("GetSignerStatus: address, version and the chain view", async () => {
    const res = await clientFor(protocol).getSignerStatus({});
    expect(res.addressHex).toBe(srv.signer.addressHex);
    expect(res.address).toEqual(srv.signer.address);
    expect(res.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(res.chain?.chainId).toBe(CHAIN.chainId);
    expect(res.chain?.round).toBe(CHAIN.lastInitializedRound);
    expect(res.chain?.roundBlockHash).toEqual(CHAIN.lastInitializedBlockHash);
    expect(res.chain?.deposit).toBe(CHAIN.sender.deposit.toString());
  });

  test("GenerateLivePayment: tickets the orchestrator accepts; the returned state continues the nonces", async () => {
    const client = clientFor(protocol);
    const orch = testOrchestrator();
    const info = orchestratorInfo({ orch });
    const verifier = createPaymentVerifier({
      orch,
      sender: srv.signer.address,
      expectedPrice: { pricePerUnit: 1n, pixelsPerUnit: 1n },
      lastSeenL1Block: () => CHAIN.lastSeenL1Block,
    });

    const first = await client.generateLivePayment(paymentRequest(info));
    expect(first.paymentRequired).toBe(true);
    expect(first.billableUnits).toBe(1280n * 720n * 30n * 60n);
    expect(first.fee).toBe("1658880000");
    expect(first.numTickets).toBe(2);
    expect(first.payment?.ticketSenderParams).toHaveLength(2);
    expect(first.segCreds?.sig).toHaveLength(65);
    verifier.accept(first.paymentHeader, first.segmentHeader, "m");
    expect(verifier.nonces()).toEqual([1, 2]);
    const firstState = JSON.parse(Buffer.from(first.state!.state).toString("utf8")) as Record<string, unknown>;
    expect(firstState).toMatchObject({ SenderNonce: 2, SequenceNumber: 0, Balance: first.balance, Type: "lv2v" });
    expect(verifySignature(srv.signer.address, first.state!.state, first.state!.sig)).toBe(true);

    const second = await client.generateLivePayment(paymentRequest(info, { state: first.state }));
    expect(second.paymentRequired).toBe(true);
    expect(second.numTickets).toBeGreaterThan(0);
    verifier.accept(second.paymentHeader, second.segmentHeader, "m");
    const expected = Array.from({ length: 2 + second.numTickets }, (_, i) => i + 1);
    expect(verifier.nonces()).toEqual(expected);
    const secondState = JSON.parse(Buffer.from(second.state!.state).toString("utf8")) as Record<string, unknown>;
    expect(secondState).toMatchObject({
      StateID: firstState.StateID,
      SenderNonce: 2 + second.numTickets,
      SequenceNumber: 1,
      Balance: second.balance,
    });
  });

  test("a price ceiling from max_price is ResourceExhausted with PriceExceededDetail, nothing signed", async () => {
    const before = srv.signer.signCount();
    const req = paymentRequest(orchestratorInfo({ pricePerUnit: 3n, pixelsPerUnit: 2n }), {
      maxPrice: { price: "0.5", currency: "wei", unit: "720p-pixel-seconds" },
    });
    const err = await connectErrorOf(clientFor(protocol).generateLivePayment(req));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toContain("exceeds request maxPrice ceiling");
    const details = err.findDetails(PriceExceededDetailSchema);
    expect(details).toHaveLength(1);
    expect(details[0]).toMatchObject({ source: "request maxPrice", price: "3/2", ceiling: "1/2" });
    expect(srv.signer.signCount()).toBe(before);
  });

  test("an expiring orchestrator auth token is FailedPrecondition with RefreshSessionDetail, nothing signed", async () => {
    const before = srv.signer.signCount();
    const info = orchestratorInfo({ authExpiration: T0 / 1_000_000_000n + 100n, transcoder: "https://orch-refresh.test:8935" });
    const err = await connectErrorOf(clientFor(protocol).generateLivePayment(paymentRequest(info)));
    expect(err.code).toBe(Code.FailedPrecondition);
    const details = err.findDetails(RefreshSessionDetailSchema);
    expect(details).toHaveLength(1);
    expect(details[0]!.orchestratorUrl).toBe("https://orch-refresh.test:8935");
    expect(details[0]!.reason).toBe("auth token expired");
    expect(srv.signer.signCount()).toBe(before);
  });

  test("bad input is InvalidArgument naming the problem", async () => {
    const before = srv.signer.signCount();
    const err = await connectErrorOf(clientFor(protocol).generateLivePayment({ manifestId: "m" }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("orchestrator");
    expect(srv.signer.signCount()).toBe(before);
  });

  test("a request larger than 1 MiB is refused with ResourceExhausted, nothing signed", async () => {
    // A connection of its own: see the HTTP/1.1 keep-alive test below for why.
    const fresh = allTransports(srv.url);
    try {
      const before = srv.signer.signCount();
      const req = paymentRequest(orchestratorInfo(), { app: "x".repeat(2_000_000) });
      const client = createClient(SignerService, fresh.find((x) => x.name === protocol)!.transport);
      const err = await connectErrorOf(client.generateLivePayment(req));
      expect(err.code).toBe(Code.ResourceExhausted);
      expect(err.rawMessage).toContain("readMaxBytes");
      expect(srv.signer.signCount()).toBe(before);
    } finally {
      for (const t of fresh) t.close();
    }
  });
});

describe("request size limit over HTTP/1.1 keep-alive", () => {
  // A refused request whose body was not read must close the connection, or the unread bytes
  // would be taken for the next request on it.
  test("the call after a refused oversized request on the same connection succeeds promptly", async () => {
    const agent = new Agent({ keepAlive: true });
    onTestFinished(() => agent.destroy());
    const transport = createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1", nodeOptions: { agent } });
    const client = createClient(SignerService, transport);
    const err = await connectErrorOf(
      client.generateLivePayment(paymentRequest(orchestratorInfo(), { app: "x".repeat(2_000_000) })),
    );
    expect(err.code).toBe(Code.ResourceExhausted);
    const res = await client.signOrchestratorInfo({}, { timeoutMs: 2000 });
    expect(res.addressHex).toBe(srv.signer.addressHex);
  });
});

describe("health, metrics and browser support", () => {
  test("grpc.health.v1 Health/Check over gRPC is SERVING", async () => {
    const t = transports.find((x) => x.name.startsWith("gRPC over"))!;
    const res = await createClient(Health, t.transport).check({ service: "" });
    expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  test("GET /healthz is 200", async () => {
    const res = await rawRequest(`${srv.url}/healthz`);
    expect(res.status).toBe(200);
    expect(res.body).toBe("ok\n");
  });

  test("GET /metrics counts the calls made", async () => {
    await clientFor(PROTOCOLS[0]!).signOrchestratorInfo({});
    const res = await rawRequest(`${srv.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toContain("text/plain");
    expect(res.body).toContain("lpsigner_requests_total");
    expect(res.body).toMatch(/lpsigner_requests_total\{rpc="SignOrchestratorInfo",code="ok"\} [1-9]/);
    expect(res.body).toMatch(/lpsigner_request_duration_seconds_count\{rpc="SignOrchestratorInfo"\} [1-9]/);
  });

  test("CORS preflight is 204 with Access-Control-Allow-Origin", async () => {
    const res = await rawRequest(`${srv.url}${SERVICE_PATH}/GetSignerStatus`, {
      method: "OPTIONS",
      headers: {
        Origin: "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,connect-protocol-version",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers["access-control-allow-origin"]).toBe("https://app.example");
    expect(String(res.headers["access-control-allow-methods"])).toContain("POST");
    expect(String(res.headers["access-control-allow-headers"]).toLowerCase()).toContain("content-type");
  });

  test("a browser-style Connect GET-less POST carries CORS headers on the response", async () => {
    const res = await rawRequest(`${srv.url}${SERVICE_PATH}/GetSignerStatus`, {
      method: "POST",
      headers: { Origin: "https://app.example", "Content-Type": "application/json", "Connect-Protocol-Version": "1" },
      body: "{}",
    });
    expect(res.status).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBe("https://app.example");
    expect((JSON.parse(res.body) as { addressHex: string }).addressHex).toBe(srv.signer.addressHex);
  });

  test("legacy: a body larger than 1 MiB is refused, nothing signed", async () => {
    const before = srv.signer.signCount();
    const body = gatewayPaymentBody(orchestratorInfo(), { extra: { app: "x".repeat((1 << 20) + 100) } });
    const res = await rawRequest(`${srv.url}/generate-live-payment`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
    }).catch((err: NodeJS.ErrnoException) => ({ status: 0, headers: {}, body: String(err.code) }));
    // Either an error status, or the connection is dropped before the client finishes sending.
    expect(res.status === 0 || (res.status >= 400 && res.status < 500)).toBe(true);
    if (res.status !== 0) expect(res.body).toContain("larger than");
    expect(srv.signer.signCount()).toBe(before);
  });

  test("an unknown path is 404", async () => {
    const res = await rawRequest(`${srv.url}/nope`);
    expect(res.status).toBe(404);
  });
});

describe("buf curl against the running server", () => {
  const cases = [
    { protocol: "grpc", extra: ["--http2-prior-knowledge"] },
    { protocol: "connect", extra: [] },
    { protocol: "grpcweb", extra: [] },
  ];
  const bufCurl = async (protocol: string, extra: string[], method: string) => {
    const { stdout } = await execFileAsync(
      BUF,
      ["curl", "--schema", "proto", "--protocol", protocol, ...extra, "-d", "{}", `${srv.url}${SERVICE_PATH}/${method}`],
      { cwd: REPO_ROOT, timeout: 20_000 },
    );
    return JSON.parse(stdout) as Record<string, unknown>;
  };

  test.each(cases)("--protocol $protocol: SignOrchestratorInfo and GetSignerStatus", async ({ protocol, extra }) => {
    const info = await bufCurl(protocol, extra, "SignOrchestratorInfo");
    expect(info.addressHex).toBe(srv.signer.addressHex);
    // bytes are base64 in protobuf JSON
    const sig = Buffer.from(String(info.signature), "base64");
    expect(verifySignature(srv.signer.address, keccak256(utf8.encode(srv.signer.addressHex)), sig)).toBe(true);
    const status = await bufCurl(protocol, extra, "GetSignerStatus");
    expect(status.addressHex).toBe(srv.signer.addressHex);
    expect((status.chain as Record<string, unknown>).chainId).toBe(CHAIN.chainId.toString());
  });
});

describe("graceful shutdown", () => {
  test("in-flight requests finish; new connections are refused", async () => {
    const webhook = await startTestWebhook();
    webhook.reply((_call, res) => {
      setTimeout(() => json(res, 200, { status: 200 }), 300);
    });
    const t = testDeps({ webhook: createAuthWebhook({ url: webhook.url, headers: {} }) });
    const own = await startTestServer({ deps: t });
    const grpc = createGrpcTransport({ baseUrl: own.url });
    try {
      const info = orchestratorInfo();
      const legacy = rawRequest(`${own.url}/generate-live-payment`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: gatewayPaymentBody(info),
      });
      const viaGrpc = createClient(SignerService, grpc).generateLivePayment(paymentRequest(info));
      // Both requests are inside the webhook call, i.e. in flight, when the server starts closing.
      await waitFor(() => webhook.calls.length === 2, 5000);
      const closed = own.close(5000);

      const refused = await rawRequest(`${own.url}/healthz`).then(
        (r) => `status ${r.status}`,
        (err: NodeJS.ErrnoException) => err.code,
      );
      expect(refused).toBe("ECONNREFUSED");

      const res = await legacy;
      expect(res.status).toBe(200);
      expect(Object.keys(JSON.parse(res.body) as object)).toEqual(["payment", "segCreds", "state"]);
      const grpcRes = await viaGrpc;
      expect(grpcRes.numTickets).toBe(2);
      await closed;

      expect(await tcpConnectError(own.port)).toBe("ECONNREFUSED");
    } finally {
      await webhook.close();
    }
  });
});

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

function tcpConnectError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = netConnect(port, "127.0.0.1");
    s.on("connect", () => {
      s.destroy();
      resolve("connected");
    });
    s.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}
