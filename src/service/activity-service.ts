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
import type { Admission } from "../server/admission.js";

export interface ActivityServiceDeps {
  activity?: ActivityRecorder;
  status: () => MessageInitShape<typeof GetSignerStatusResponseSchema>;
  discovery?: unknown;
  admission?: Admission;
}

/** The tick every activity stream follows: a dashboard redraws once a second at most. */
const TICK_MS = 1000;
const DEFAULT_INTERVAL_MS = 1000;
const MIN_INTERVAL_MS = TICK_MS;
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

/**
 * One snapshot per tick for all of a process's activity streams: a timer runs while any stream
 * is open, each stream waits for its number of ticks, and a snapshot is built at most once per
 * tick however many streams read it.
 */
export function createActivityTicker(build: () => WatchSignerActivityResponse, tickMs = TICK_MS) {
  let tick = 0;
  let built: { tick: number; value: WatchSignerActivityResponse } | undefined;
  const waiters = new Set<() => void>();
  let timer: NodeJS.Timeout | undefined;
  let builds = 0;
  const onTick = () => {
    if (waiters.size === 0) {
      // Nobody waits: stop, and forget the snapshot so the next stream gets a fresh one.
      clearInterval(timer);
      timer = undefined;
      built = undefined;
      return;
    }
    tick++;
    const woken = [...waiters];
    waiters.clear();
    for (const wake of woken) wake();
  };
  return {
    /** This tick's snapshot, built now if no stream has asked for it yet. */
    current(): WatchSignerActivityResponse {
      if (built?.tick !== tick) {
        builds++;
        built = { tick, value: build() };
      }
      return built.value;
    },
    /** Resolves after `ticks` ticks, or at once when `signal` aborts. */
    async wait(ticks: number, signal: AbortSignal): Promise<void> {
      for (let i = 0; i < ticks && !signal.aborted; i++) {
        await new Promise<void>((resolve) => {
          const done = () => {
            waiters.delete(done);
            signal.removeEventListener("abort", done);
            resolve();
          };
          waiters.add(done);
          signal.addEventListener("abort", done);
          if (!timer) {
            timer = setInterval(onTick, tickMs);
            timer.unref();
          }
        });
      }
    },
    /** Snapshots built so far (for tests). */
    builds: () => builds,
  };
}

/** WatchSignerActivity: merged into the SignerService implementation. */
export const activityHandlers = (deps: ActivityServiceDeps) => {
  const activity = deps.activity;
  const ticker = activity && createActivityTicker(() => activitySnapshot({ ...deps, activity }));
  return {
    async *watchSignerActivity(req: WatchSignerActivityRequest, ctx: HandlerContext) {
      if (!activity || !ticker) throw new ConnectError("activity is not recorded by this signer", Code.Unimplemented);
      const interval =
        req.intervalMs === 0 ? DEFAULT_INTERVAL_MS : Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, req.intervalMs));
      const ticks = Math.max(1, Math.round(interval / TICK_MS));
      const release = deps.admission?.enterStream(ctx);
      // Ends when the client goes away or the signer shuts down (the client reconnects elsewhere).
      const done = AbortSignal.any([ctx.signal, activity.closed]);
      try {
        while (!done.aborted) {
          yield ticker.current();
          await ticker.wait(ticks, done);
        }
      } finally {
        release?.();
      }
    },
  };
};
