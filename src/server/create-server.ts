import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { SignerService } from "../../gen/livepeer/signer/v1/signer_pb.js";
import type { ChainView } from "../chain/chain-view.js";
import { createDashboardHandler } from "../dashboard/serve-dashboard.js";
import { createLegacyHandler, type LegacyDeps } from "../legacy/legacy-routes.js";
import { signerRoutes, type SignerServiceDeps } from "../service/signer-service.js";
import { createAdmission, DEFAULT_ADMISSION, rawStreamContext, type AdmissionLimits } from "./admission.js";
import { createCors, hostAllowedOnLoopback, isLoopbackHost } from "./cors.js";
import { createReadiness, healthRoutes, serveProbe } from "./health.js";
import type { PriceFeedView } from "../pricing/price-feed.js";
import type { PriceLimits } from "../pricing/price-limits.js";
import { createListener, DEFAULT_LIMITS, type AnyRequest, type AnyResponse, type ConnectionLimits } from "./listener.js";
import { cachedFor, createPacer, serveMetrics, singleFlight, type SignerMetrics } from "./metrics.js";
import { createObserver } from "./observe.js";
import { reflectionRoutes } from "./reflection.js";

export { createSignerMetrics, type SignerMetrics } from "./metrics.js";
export { DEFAULT_LIMITS, type ConnectionLimits } from "./listener.js";
export { DEFAULT_ADMISSION, type AdmissionLimits } from "./admission.js";

export interface ServerOptions {
  service: SignerServiceDeps;
  legacy: Omit<LegacyDeps, "payments" | "orchInfoSignature">;
  logger: Logger;
  metrics: SignerMetrics;
  /** GET /metrics text; default: the metrics' registry (a -workers worker asks the primary for all workers' sum). */
  metricsText?: () => Promise<string>;
  /** Origins allowed for browser (Connect, gRPC-web) calls; ["*"] allows any but "null". Default: none. */
  corsOrigins?: string[];
  /** The chain view behind readiness and the chain gauges; default: the payment path's. */
  chain?: ChainView;
  tls?: { cert: string; key: string };
  /** Largest request message, bytes. */
  maxRequestBytes?: number;
  /** How long a request may take to arrive (sets limits.requestMs). */
  requestTimeoutMs?: number;
  /** Connection bounds; unset ones take DEFAULT_LIMITS. */
  limits?: Partial<ConnectionLimits>;
  /** Payment calls in flight and streams open, per process; unset ones take DEFAULT_ADMISSION. */
  admission?: Partial<AdmissionLimits>;
  /** Host names (lower case, no port) a loopback listener accepts besides loopback's own: a proxy's. */
  allowedHosts?: string[];
  /** How long one /metrics collection answers further scrapes (default 1 s; 0: each scrape collects, concurrent ones share). */
  metricsCacheMs?: number;
  /** A remote key's health (crypto/remote-signer.ts watchKeyHealth): failing, the signer is not ready. */
  keyHealth?: { problem(): string | undefined };
  /** The ETH rate behind USD ceilings: unusable, the signer is not ready; its gauges and the ceilings in force go to /metrics. */
  priceFeed?: { feed: PriceFeedView; prices: PriceLimits };
  /** Scrapes answered per second at most, and how many may wait their turn (default 50 and 256). */
  metricsPace?: { perSecond: number; maxWaiting: number };
}

/** A scrape flood costs one collection a second, whatever its rate. */
const METRICS_CACHE_MS = 1000;
/** And at most 50 answers a second, the rest waiting (bounded): Prometheus scrapes every few seconds. */
const METRICS_PACE = { perSecond: 50, maxWaiting: 256 };

export interface SignerServer {
  listen(host: string, port: number): Promise<{ host: string; port: number }>;
  /** Stops accepting, lets in-flight requests finish (up to drainMs), then force-closes the rest. */
  close(drainMs?: number): Promise<void>;
}

/**
 * One port for everything: gRPC (HTTP/2, h2c or TLS), gRPC-web and Connect, plus go-livepeer's
 * legacy HTTP/JSON endpoints, /healthz, /readyz and /metrics.
 */
export function createSignerServer(opts: ServerOptions): SignerServer {
  const { logger, metrics } = opts;
  const chain = opts.chain ?? opts.service.payments.chain;
  metrics.watchChain(chain);
  const readiness = createReadiness(chain, opts.keyHealth, opts.priceFeed?.feed);
  if (opts.priceFeed) metrics.watchPriceFeed(opts.priceFeed.feed, opts.priceFeed.prices);
  const observer = createObserver(logger, metrics);
  const admission = createAdmission({ ...DEFAULT_ADMISSION, ...opts.admission }, (reason) => metrics.refused.inc({ reason }));
  metrics.watchAdmission(admission);
  const service = { ...opts.service, admission };
  const legacy = createLegacyHandler({
    ...opts.legacy,
    payments: service.payments,
    orchInfoSignature: service.orchInfoSignature,
    activity: service.activity,
    admission,
  });
  const cors = createCors(opts.corsOrigins ?? [], [SignerService.typeName, Health.typeName]);
  // A -workers worker's scrapes wait on one collection from the primary, which caches it.
  const metricsText = opts.metricsText
    ? singleFlight(opts.metricsText)
    : cachedFor(opts.metricsCacheMs ?? METRICS_CACHE_MS, () => metrics.registry.metrics());
  const { perSecond, maxWaiting } = opts.metricsPace ?? METRICS_PACE;
  const metricsPace = createPacer(perSecond, maxWaiting);

  const maxRequestBytes = opts.maxRequestBytes ?? 1 << 20;
  const dashboard = createDashboardHandler();
  const fallback = async (req: AnyRequest, res: AnyResponse) => {
    if (dashboard(req, res)) return;
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (req.method === "GET" && serveProbe(readiness, path, res)) return;
    if (req.method === "GET" && path === "/metrics") return serveMetrics(metrics, res, metricsText, metricsPace);
    const refusal = req.method === "POST" ? cors.crossSite(req) : undefined;
    if (refusal) {
      // Before any work: the body is not read, so the connection closes (see Http1Response).
      metrics.refused.inc({ reason: "cross-site" });
      res.writeHead(403, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(`403 cross-site request refused (${refusal})\n`);
      return;
    }
    const log = observer.http(req, res);
    try {
      if (!(await legacy(req as IncomingMessage, res as ServerResponse))) {
        res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
        res.end("404 page not found\n");
      }
    } catch (err) {
      // A client that went away (or was cut by a timeout) mid-body is not a server error; the
      // observer records it as "aborted".
      if (!req.complete && req.destroyed) return;
      log().error({ err }, "legacy request failed");
      if (!res.headersSent) {
        res.writeHead(500, { "Content-Type": "application/json" });
        res.end('{"error":{"message":"Internal Server Error"}}\n');
      }
    }
  };

  const connect = connectNodeAdapter({
    routes: (router) => {
      signerRoutes(service)(router);
      healthRoutes(readiness, admission)(router);
      reflectionRoutes([SignerService, Health])(router);
    },
    interceptors: [observer.interceptor],
    readMaxBytes: maxRequestBytes,
    contextValues: rawStreamContext,
    fallback: (req, res) => void fallback(req, res as AnyResponse),
  });

  const allowedHosts = new Set((opts.allowedHosts ?? []).map((h) => h.toLowerCase()));
  let loopbackOnly = false;
  const handler = (req: AnyRequest, res: AnyResponse) => {
    if (loopbackOnly && !hostAllowedOnLoopback(req, allowedHosts)) {
      res.writeHead(403, { "Content-Type": "text/plain; charset=utf-8" });
      res.end("403 Host not allowed on a loopback listener\n");
      return;
    }
    if (cors.applyCors(req, res)) return;
    connect(req as IncomingMessage, res as ServerResponse);
  };

  const limits = { ...DEFAULT_LIMITS, ...(opts.requestTimeoutMs ? { requestMs: opts.requestTimeoutMs } : {}), ...opts.limits };
  const listener = createListener(handler, { limits, tls: opts.tls });
  return {
    listen(host, port) {
      loopbackOnly = isLoopbackHost(host);
      return listener.listen(host, port);
    },
    async close(drainMs = 10_000) {
      readiness.shutdown();
      await listener.close(drainMs);
    },
  };
}
