import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import {
  GetSignerStatusResponseSchema,
  WatchSignerActivityResponseSchema,
  type WatchSignerActivityRequest,
  type WatchSignerActivityResponse,
} from "../../gen/livepeer/signer/v1/signer_pb.js";
import type { ActivityRecorder, OutcomeCounts } from "../activity/recorder.js";

export interface ActivityServiceDeps {
  activity?: ActivityRecorder;
  status: () => MessageInitShape<typeof GetSignerStatusResponseSchema>;
  discovery?: unknown;
}

const DEFAULT_INTERVAL_MS = 1000;
const MIN_INTERVAL_MS = 250;
const MAX_INTERVAL_MS = 60_000;

/** scheme://host[:port] only: an RPC URL's credentials, path (API keys) and query stay in the signer. */
export function redactUrl(url: string | undefined): string {
  if (!url) return "";
  try {
    return new URL(url).origin;
  } catch {
    return "";
  }
}

const counts = (c: OutcomeCounts) => ({
  paid: BigInt(c.paid),
  nothingDue: BigInt(c.nothing_due),
  refresh: BigInt(c.refresh),
  priceExceeded: BigInt(c.price_exceeded),
  clientError: BigInt(c.client_error),
  unavailable: BigInt(c.unavailable),
  internalError: BigInt(c.internal_error),
});

export function activitySnapshot(deps: ActivityServiceDeps & { activity: ActivityRecorder }): WatchSignerActivityResponse {
  const a = deps.activity.snapshot();
  // A message, so its ethUrl can be redacted in place whatever shape status() returned.
  const status = create(GetSignerStatusResponseSchema, deps.status());
  if (status.chain) status.chain.ethUrl = redactUrl(status.chain.ethUrl);
  return create(WatchSignerActivityResponseSchema, {
    time: timestampFromMs(a.timeMs),
    status,
    payments: counts(a.totals),
    ticketsSigned: BigInt(a.ticketsSigned),
    faceValueWei: a.faceValue.toString(),
    evWei: a.ev.toString(),
    buckets: a.buckets.map((b) => ({ start: timestampFromMs(b.startMs), payments: counts(b.payments), ticketsSigned: BigInt(b.ticketsSigned) })),
    bucketSeconds: a.bucketSeconds,
    windowSeconds: a.windowSeconds,
    activeSessions: a.activeSessions,
    latencyP50Ms: a.latencyP50Ms,
    latencyP99Ms: a.latencyP99Ms,
    discoveryEnabled: deps.discovery !== undefined,
    started: timestampFromMs(a.startedAtMs),
  });
}

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

/** WatchSignerActivity: merged into the SignerService implementation. */
export const activityHandlers = (deps: ActivityServiceDeps) => ({
  async *watchSignerActivity(req: WatchSignerActivityRequest, ctx: HandlerContext) {
    const activity = deps.activity;
    if (!activity) throw new ConnectError("activity is not recorded by this signer", Code.Unimplemented);
    const interval =
      req.intervalMs === 0 ? DEFAULT_INTERVAL_MS : Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, req.intervalMs));
    // Ends when the client goes away or the signer shuts down (the client reconnects elsewhere).
    const done = AbortSignal.any([ctx.signal, activity.closed]);
    while (!done.aborted) {
      yield activitySnapshot({ ...deps, activity });
      await sleep(interval, done);
    }
  },
});
