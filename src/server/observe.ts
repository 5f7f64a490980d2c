import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Logger } from "pino";
import type { SignerMetrics } from "./metrics.js";

/**
 * One request observer for both transports: a request id on every log line, the request counter
 * and the latency histogram. Labels come from fixed sets (Connect method names, the legacy routes
 * below, "legacy:other") so no client can create series.
 */
export interface RequestObserver {
  /** Observes every Connect RPC (SignerService and grpc.health.v1). */
  interceptor: Interceptor;
  /** Observes a plain HTTP request (the legacy routes) until its response closes; returns its logger's getter. */
  http(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): () => Logger;
}

const LEGACY_ROUTES = new Set(["/sign-orchestrator-info", "/generate-live-payment", "/discover-orchestrators"]);

/** The metric label of a legacy request path. */
export function legacyRouteLabel(path: string): string {
  return LEGACY_ROUTES.has(path) ? `legacy:${path.slice(1)}` : "legacy:other";
}

type Level = "debug" | "info" | "warn" | "error";

export function createObserver(logger: Logger, metrics: SignerMetrics): RequestObserver {
  const begin = (rpc: string, fields: Record<string, unknown>) => {
    const started = performance.now();
    // The child logger (and its request id) is made only when a line is written: a successful
    // call logs at debug, usually off, and making them per request is a measurable part of a
    // payment's cost (a UUID alone is about 600 bytes allocated).
    let child: Logger | undefined;
    const log = () => (child ??= logger.child({ requestId: randomUUID(), rpc, ...fields }));
    const end = (code: string, level: Level, msg: string, extra: Record<string, unknown> = {}) => {
      const seconds = (performance.now() - started) / 1000;
      metrics.requests.inc({ rpc, code });
      metrics.latency.observe({ rpc }, seconds);
      if (logger.isLevelEnabled(level)) log()[level]({ code, ms: Math.round(seconds * 1000), ...extra }, msg);
    };
    return { log, end };
  };

  return {
    interceptor: (next) => async (req) => {
      const { end } = begin(req.method.name, { protocol: req.header.get("content-type") });
      try {
        const res = await next(req);
        end("ok", "debug", "ok");
        return res;
      } catch (err) {
        const ce = ConnectError.from(err);
        const internal = ce.code === Code.Internal || ce.code === Code.Unknown;
        // Unavailable: the chain view or a key backend; its cause is the operator's to read.
        const unavailable = ce.code === Code.Unavailable && ce.cause instanceof Error;
        const level = internal ? "error" : unavailable ? "warn" : "info";
        end(Code[ce.code] ?? String(ce.code), level, ce.message, internal || unavailable ? { err: ce.cause ?? err } : {});
        throw err;
      }
    },
    http(req, res) {
      const path = (req.url ?? "").split("?")[0] ?? "";
      const { log, end } = begin(legacyRouteLabel(path), { path: LEGACY_ROUTES.has(path) ? path : undefined });
      res.once("close", () => {
        if (!res.writableFinished) end("aborted", "info", "client went away");
        else end(String(res.statusCode), res.statusCode >= 500 ? "warn" : "debug", "legacy request");
      });
      return log;
    },
  };
}
