import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { pino } from "pino";
import {
  GenerateLivePaymentRequestSchema,
  GetSignerStatusResponseSchema,
  JobType,
} from "../../gen/livepeer/signer/v1/signer_pb.js";
import type { OrchestratorInfo } from "../../gen/net/lp_rpc_pb.js";
import type { PaymentDeps } from "../../src/payment/generate-payment.js";
import {
  createSignerMetrics,
  createSignerServer,
  type ServerOptions,
  type SignerMetrics,
  type SignerServer,
} from "../../src/server/create-server.js";
import { createActivityRecorder, type ActivityRecorder } from "../../src/activity/recorder.js";
import { signOrchestratorInfo } from "../../src/crypto/eth-sign.js";
import { VERSION } from "../../src/start-signer.js";
import { CHAIN, orchestratorInfoBytes, testDeps } from "./fixtures.js";

export type TestDeps = ReturnType<typeof testDeps>;

export interface RunningTestServer extends TestDeps {
  server: SignerServer;
  metrics: SignerMetrics;
  activity: ActivityRecorder;
  port: number;
  /** http://127.0.0.1:port */
  url: string;
  close(graceMs?: number): Promise<void>;
}

/** The signer's status as start-signer builds it, from the static test chain. */
export function testStatus(t: TestDeps): () => MessageInitShape<typeof GetSignerStatusResponseSchema> {
  return () => ({
    address: t.signer.address,
    addressHex: t.signer.addressHex,
    version: VERSION,
    chain: {
      chainId: CHAIN.chainId,
      round: CHAIN.lastInitializedRound,
      roundBlockHash: CHAIN.lastInitializedBlockHash,
      l1Block: CHAIN.lastSeenL1Block,
      deposit: CHAIN.sender.deposit.toString(),
      reserve: CHAIN.sender.reserve.toString(),
    },
    limits: { webhookConfigured: t.deps.webhook !== undefined },
  });
}

/** createSignerServer on 127.0.0.1 (port 0 unless given), with testDeps() (or the given ones). */
export async function startTestServer(
  opts: {
    overrides?: Partial<PaymentDeps>;
    deps?: TestDeps;
    maxRequestBytes?: number;
    /** Listen on this port (0: any free one), e.g. to restart a signer where it was. */
    port?: number;
    /** Other server options (limits, corsOrigins, chain, logger, …); corsOrigins defaults to ["*"] here. */
    server?: Partial<Omit<ServerOptions, "service" | "legacy" | "metrics">>;
  } = {},
): Promise<RunningTestServer> {
  const t = opts.deps ?? testDeps(opts.overrides);
  const metrics = createSignerMetrics();
  // Wired as start-signer wires it: one recorder behind /metrics and WatchSignerActivity.
  const activity = createActivityRecorder(metrics);
  const payments: PaymentDeps = {
    ...t.deps,
    onTicketsSigned: (batch) => {
      t.deps.onTicketsSigned?.(batch);
      activity.ticketsSigned(batch);
    },
  };
  const server = createSignerServer({
    service: { payments, orchInfoSignature: signOrchestratorInfo(t.signer), status: testStatus(t), activity },
    legacy: {},
    logger: pino({ level: "silent" }),
    metrics,
    corsOrigins: ["*"],
    // Tests read counters right after the calls they count.
    metricsCacheMs: 0,
    ...(opts.maxRequestBytes === undefined ? {} : { maxRequestBytes: opts.maxRequestBytes }),
    ...opts.server,
  });
  const { port } = await server.listen("127.0.0.1", opts.port ?? 0);
  return { ...t, server, metrics, activity, port, url: `http://127.0.0.1:${port}`, close: (graceMs) => {
    activity.close();
    return server.close(graceMs);
  } };
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request on a fresh connection (no keep-alive), body read as text. */
export function rawRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: opts.method ?? "GET", headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** The go-livepeer gateway's request body for POST /generate-live-payment. */
export function gatewayPaymentBody(
  info: OrchestratorInfo,
  opts: { manifestId?: string; state?: { State: string; Sig: string }; extra?: Record<string, unknown> } = {},
): string {
  return JSON.stringify({
    ManifestID: opts.manifestId ?? "m",
    orchestrator: Buffer.from(orchestratorInfoBytes(info)).toString("base64"),
    state: opts.state ?? { State: null, Sig: null },
    type: "lv2v",
    inPixels: 0,
    capabilities: null,
    ...opts.extra,
  });
}

/** A first GenerateLivePayment request (lv2v) for the given orchestrator. */
export function paymentRequest(
  info: OrchestratorInfo,
  init: Omit<Exclude<MessageInitShape<typeof GenerateLivePaymentRequestSchema>, { $typeName: string }>, "$typeName"> = {},
) {
  const req = create(GenerateLivePaymentRequestSchema, init);
  req.orchestrator = info;
  if (init.manifestId === undefined) req.manifestId = "m";
  if (init.type === undefined) req.type = JobType.LV2V;
  return req;
}

export interface WebhookCall {
  headers: IncomingHttpHeaders;
  body: string;
  json: unknown;
}

export interface TestWebhook {
  url: string;
  calls: WebhookCall[];
  /** Sets how the next calls are answered. */
  reply(handler: (call: WebhookCall, res: ServerResponse) => void | Promise<void>): void;
  close(): Promise<void>;
}

/** A loopback auth webhook that records every call; answers {"status":200} until told otherwise. */
export async function startTestWebhook(): Promise<TestWebhook> {
  const calls: WebhookCall[] = [];
  let handler: (call: WebhookCall, res: ServerResponse) => void | Promise<void> = (_c, res) => json(res, 200, { status: 200 });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = undefined;
      }
      const call = { headers: req.headers, body, json: parsed };
      calls.push(call);
      void Promise.resolve(handler(call, res)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/auth`,
    calls,
    reply(h) {
      handler = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(typeof body === "string" ? body : JSON.stringify(body));
}
