import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { cors as connectCors } from "@connectrpc/connect";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttp2Server, createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { Health, HealthCheckResponse_ServingStatus, HealthCheckResponseSchema } from "../../gen/grpc/health/v1/health_pb.js";
import { createLegacyHandler, type LegacyDeps } from "../legacy/legacy-routes.js";
import { SignerService } from "../../gen/livepeer/signer/v1/signer_pb.js";
import { signerRoutes, type SignerServiceDeps } from "../service/signer-service.js";
import { reflectionRoutes } from "./reflection.js";

export interface ServerOptions {
  service: SignerServiceDeps;
  legacy: Omit<LegacyDeps, "payments" | "orchInfoSignature" | "onResult">;
  logger: Logger;
  metrics: SignerMetrics;
  /** Origins allowed for browser calls; ["*"] allows any. */
  corsOrigins: string[];
  tls?: { cert: string; key: string };
  /** Largest request message, bytes. */
  maxRequestBytes?: number;
  /** How long a request may take before the server gives up on it. */
  requestTimeoutMs?: number;
}

/** Prometheus metrics for the signer, on their own registry. */
export function createSignerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: "lpsigner_requests_total",
      help: "Requests by RPC (or legacy route) and result code",
      labelNames: ["rpc", "code"],
      registers: [registry],
    }),
    latency: new Histogram({
      name: "lpsigner_request_duration_seconds",
      help: "Request latency by RPC (or legacy route)",
      labelNames: ["rpc"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
    ticketsSigned: new Counter({ name: "lpsigner_tickets_signed_total", help: "Tickets signed", registers: [registry] }),
    faceValue: new Counter({ name: "lpsigner_ticket_face_value_wei_total", help: "Face value of signed tickets, wei", registers: [registry] }),
    expectedValue: new Counter({ name: "lpsigner_ticket_ev_wei_total", help: "Expected value of signed tickets, wei", registers: [registry] }),
    orchestrators: new Gauge({
      name: "lpsigner_discovery_orchestrators",
      help: "Orchestrators in the discovery snapshot: known (polled) and eligible (within price ceilings)",
      labelNames: ["state"],
      registers: [registry],
    }),
    pollLatency: new Histogram({
      name: "lpsigner_discovery_poll_seconds",
      help: "GetOrchestrator poll latency by outcome",
      labelNames: ["ok"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5],
      registers: [registry],
    }),
  };
}
export type SignerMetrics = ReturnType<typeof createSignerMetrics>;

/** Request ids, logs and metrics for every Connect call, in one place. */
function observe(logger: Logger, metrics: SignerMetrics): Interceptor {
  return (next) => async (req) => {
    const rpc = req.method.name;
    const started = performance.now();
    const log = logger.child({ requestId: crypto.randomUUID(), rpc, protocol: req.header.get("content-type") });
    try {
      const res = await next(req);
      metrics.requests.inc({ rpc, code: "ok" });
      log.debug("ok");
      return res;
    } catch (err) {
      const ce = ConnectError.from(err);
      metrics.requests.inc({ rpc, code: Code[ce.code] ?? String(ce.code) });
      if (ce.code === Code.Internal || ce.code === Code.Unknown) log.error({ err: ce.cause ?? err }, ce.message);
      else log.info({ code: Code[ce.code] }, ce.message);
      throw err;
    } finally {
      metrics.latency.observe({ rpc }, (performance.now() - started) / 1000);
    }
  };
}

const healthRoutes = (isServing: () => boolean) => (router: ConnectRouter) =>
  router.service(Health, {
    check: () =>
      create(HealthCheckResponseSchema, {
        status: isServing() ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING,
      }),
    async *watch(_req, ctx) {
      yield { status: isServing() ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING };
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
    },
  });

/**
 * A response sent before the request body was read (e.g. a refused oversized request) must
 * close an HTTP/1.1 connection: the unread bytes would otherwise be parsed as the next request.
 */
function closeIfBodyUnread(req: IncomingMessage, res: ServerResponse): void {
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
  res.writeHead = ((...args: unknown[]) => {
    if (!req.complete && !res.headersSent) res.setHeader("Connection", "close");
    return writeHead(...args);
  }) as typeof res.writeHead;
}

export interface SignerServer {
  listen(host: string, port: number): Promise<{ host: string; port: number }>;
  /** Stops accepting, lets in-flight requests finish (up to graceMs), then closes. */
  close(graceMs?: number): Promise<void>;
}

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

/**
 * One port for everything: gRPC (HTTP/2, h2c or TLS), gRPC-web and Connect, plus go-livepeer's
 * legacy HTTP/JSON endpoints, /healthz and /metrics. Cleartext connections are sniffed: the
 * HTTP/2 preface goes to the HTTP/2 server, anything else to HTTP/1.1.
 */
export function createSignerServer(opts: ServerOptions): SignerServer {
  const { logger, metrics } = opts;
  let serving = true;
  const legacy = createLegacyHandler({
    ...opts.legacy,
    payments: opts.service.payments,
    orchInfoSignature: opts.service.orchInfoSignature,
    activity: opts.service.activity,
    onResult: (route, status) => metrics.requests.inc({ rpc: `legacy:${route}`, code: String(status) }),
  });

  const fallback = async (req: AnyRequest, res: AnyResponse) => {
    const path = (req.url ?? "").split("?")[0];
    if (req.method === "GET" && path === "/healthz") {
      res.writeHead(serving ? 200 : 503, { "Content-Type": "text/plain" });
      res.end(serving ? "ok\n" : "shutting down\n");
      return;
    }
    if (req.method === "GET" && path === "/metrics") {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { "Content-Type": metrics.registry.contentType });
      res.end(body);
      return;
    }
    const started = performance.now();
    const log = logger.child({ requestId: crypto.randomUUID(), path });
    res.on("finish", () => {
      const ms = Math.round(performance.now() - started);
      if (res.statusCode >= 500) log.warn({ status: res.statusCode, ms }, "legacy request failed");
      else log.debug({ status: res.statusCode, ms }, "legacy request");
    });
    try {
      const handled = await legacy(req as IncomingMessage, res as ServerResponse);
      if (!handled) {
        res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
        res.end("404 page not found\n");
      }
    } catch (err) {
      logger.error({ err, path }, "legacy request failed");
      if (!res.headersSent) {
        res.writeHead(500, { "Content-Type": "application/json" });
        res.end('{"error":{"message":"Internal Server Error"}}\n');
      }
    } finally {
      metrics.latency.observe({ rpc: `legacy:${path}` }, (performance.now() - started) / 1000);
    }
  };

  const connect = connectNodeAdapter({
    routes: (router) => {
      signerRoutes(opts.service)(router);
      healthRoutes(() => serving)(router);
      reflectionRoutes([SignerService, Health])(router);
    },
    interceptors: [observe(logger, metrics)],
    readMaxBytes: opts.maxRequestBytes ?? 1 << 20,
    fallback: (req, res) => void fallback(req, res as AnyResponse),
  });

  const allowAny = opts.corsOrigins.includes("*");
  const handler = (req: AnyRequest, res: AnyResponse) => {
    if (req.httpVersionMajor === 1) closeIfBodyUnread(req as IncomingMessage, res as ServerResponse);
    const origin = req.headers.origin;
    if (origin && (allowAny || opts.corsOrigins.includes(origin))) {
      res.setHeader("Access-Control-Allow-Origin", origin);
      res.setHeader("Vary", "Origin");
      res.setHeader("Access-Control-Expose-Headers", connectCors.exposedHeaders.join(", "));
      if (req.method === "OPTIONS") {
        res.setHeader("Access-Control-Allow-Methods", connectCors.allowedMethods.join(", "));
        res.setHeader(
          "Access-Control-Allow-Headers",
          [...connectCors.allowedHeaders, "Signer-Auth-Id", "Authorization"].join(", "),
        );
        res.setHeader("Access-Control-Max-Age", "7200");
        res.writeHead(204);
        res.end();
        return;
      }
    }
    connect(req as IncomingMessage, res as ServerResponse);
  };

  const timeout = opts.requestTimeoutMs ?? 30_000;
  let front: NetServer;
  // The HTTP/1.1 server behind the cleartext sniffer; its connections are closed on shutdown.
  let h1: ReturnType<typeof createHttpServer> | undefined;
  const sessions = new Set<{ close(): void }>();
  if (opts.tls) {
    const secure = createSecureServer({ cert: opts.tls.cert, key: opts.tls.key, allowHTTP1: true }, handler);
    secure.on("session", (s) => {
      sessions.add(s);
      s.on("close", () => sessions.delete(s));
    });
    secure.setTimeout(timeout);
    front = secure;
  } else {
    const http1 = createHttpServer({ requestTimeout: timeout, headersTimeout: Math.min(timeout, 20_000) }, handler);
    const h2 = createHttp2Server({}, handler);
    h2.on("session", (s) => {
      sessions.add(s);
      s.on("close", () => sessions.delete(s));
    });
    h2.setTimeout(timeout);
    const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    front = createNetServer((socket: Socket) => {
      socket.once("readable", function sniff() {
        const chunk: Buffer | null = socket.read();
        if (chunk === null) {
          socket.once("readable", sniff);
          return;
        }
        const prefix = chunk.subarray(0, Math.min(chunk.length, PREFACE.length));
        const isH2 = PREFACE.subarray(0, prefix.length).equals(prefix);
        // A prefix shorter than the preface that matches so far is treated as h2: clients send it whole.
        socket.unshift(chunk);
        (isH2 ? h2 : http1).emit("connection", socket);
      });
    });
    front.on("close", () => http1.closeAllConnections());
    h1 = http1;
  }

  return {
    listen(host, port) {
      return new Promise((resolve, reject) => {
        front.once("error", reject);
        front.listen(port, host, () => {
          front.off("error", reject);
          const addr = front.address();
          resolve({ host, port: typeof addr === "object" && addr ? addr.port : port });
        });
      });
    },
    async close(graceMs = 10_000) {
      serving = false;
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      for (const s of sessions) s.close();
      h1?.closeIdleConnections();
      const timer = setTimeout(() => {
        h1?.closeAllConnections();
        for (const s of sessions) (s as unknown as { destroy(): void }).destroy();
      }, graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
    },
  };
}
