import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import { Health, HealthCheckResponse_ServingStatus as Status, HealthCheckResponseSchema } from "../../gen/grpc/health/v1/health_pb.js";
import { SignerService } from "../../gen/livepeer/signer/v1/signer_pb.js";
import type { ChainView } from "../chain/chain-view.js";
import { fundingProblem } from "../pm/sender-validation.js";
import type { Admission } from "./admission.js";

/**
 * Liveness and readiness. Live: the process answers and is not shutting down (/healthz).
 * Ready: live, the chain view is fresh enough to sign against, and the signer's TicketBroker funds
 * can back tickets, and a remote key's backend answers (/readyz, grpc.health.v1 for "" and
 * SignerService). A failing key backend, a stale view, or a missing
 * deposit or reserve, an unlock under way, or (with a USD ceiling) a stale or unreadable price
 * feed, makes the signer unready (a load balancer then
 * sends gateways to a replica that can pay) until it recovers; the reason is in /readyz's body.
 */
export interface Readiness {
  live(): boolean;
  /** undefined when ready, else why not. */
  notReady(): string | undefined;
  shutdown(): void;
}

export function createReadiness(chain: ChainView | undefined, key?: { problem(): string | undefined }, priceFeed?: { problem(): string | undefined }): Readiness {
  let shuttingDown = false;
  return {
    live: () => !shuttingDown,
    notReady() {
      if (shuttingDown) return "shutting down";
      const keyProblem = key?.problem();
      if (keyProblem !== undefined) return `cannot sign: ${keyProblem}`;
      // A stale or unreadable ETH rate: payments under a USD ceiling are refused until it recovers.
      const feedProblem = priceFeed?.problem();
      if (feedProblem !== undefined) return `cannot price: ${feedProblem}`;
      if (!chain) return undefined;
      const status = chain.status();
      if (status.stale) return "chain view stale";
      const unfunded = status.snapshot && fundingProblem(status.snapshot);
      return unfunded ? `cannot pay: ${unfunded}` : undefined;
    },
    shutdown: () => {
      shuttingDown = true;
    },
  };
}

/** How often a Health/Watch stream re-checks readiness. */
const WATCH_INTERVAL_MS = 1000;
const SERVICES = new Set(["", SignerService.typeName]);

/** grpc.health.v1: SERVING when ready, NOT_SERVING otherwise; NOT_FOUND for other service names. */
export const healthRoutes = (readiness: Readiness, admission?: Admission) => (router: ConnectRouter) => {
  const statusOf = (service: string) => {
    if (!SERVICES.has(service)) throw new ConnectError(`unknown service ${JSON.stringify(service)}`, Code.NotFound);
    return readiness.notReady() === undefined ? Status.SERVING : Status.NOT_SERVING;
  };
  router.service(Health, {
    check: (req) => create(HealthCheckResponseSchema, { status: statusOf(req.service) }),
    async *watch(req, ctx) {
      let last = statusOf(req.service);
      const release = admission?.enterStream(ctx);
      try {
        yield { status: last };
        while (!ctx.signal.aborted) {
          await sleep(WATCH_INTERVAL_MS, ctx.signal);
          const now = statusOf(req.service);
          if (now !== last && !ctx.signal.aborted) yield { status: (last = now) };
        }
      } finally {
        release?.();
      }
    },
  });
};

/** Resolves after ms, or at once when the call is cancelled. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/** GET /healthz (liveness) and GET /readyz (readiness); false for other paths. */
export function serveProbe(readiness: Readiness, path: string, res: ServerResponse | Http2ServerResponse): boolean {
  if (path === "/healthz") {
    const live = readiness.live();
    res.writeHead(live ? 200 : 503, { "Content-Type": "text/plain" });
    res.end(live ? "ok\n" : "shutting down\n");
    return true;
  }
  if (path === "/readyz") {
    const reason = readiness.notReady();
    res.writeHead(reason === undefined ? 200 : 503, { "Content-Type": "text/plain" });
    res.end(reason === undefined ? "ready\n" : `${reason}\n`);
    return true;
  }
  return false;
}
