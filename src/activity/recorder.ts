import type { Counter, Histogram } from "prom-client";
import { systemClock, type Clock } from "../clock.js";
import { Rat } from "../math/rat.js";
import { dropOldest } from "../ordered-map.js";
import { LATENCY_BINS, latencyBin, latencyQuantile } from "./latency.js";
import { PAYMENT_OUTCOMES, type PaymentOutcome } from "./outcome.js";

/**
 * The one place payment activity is counted. Each event increments the Prometheus series that
 * /metrics exports and, in the same call, the in-memory view WatchSignerActivity streams, so
 * the dashboard and /metrics cannot disagree. It keeps counts only: state ids are kept (for a
 * recent-sessions count) in a bounded map and never leave this module.
 */

export type OutcomeCounts = Record<PaymentOutcome, number>;

export interface ActivitySnapshot {
  timeMs: number;
  startedAtMs: number;
  totals: OutcomeCounts;
  ticketsSigned: number;
  /** wei, exact */
  faceValue: bigint;
  ev: Rat;
  bucketSeconds: number;
  windowSeconds: number;
  /** oldest first; the last is the bucket in progress */
  buckets: { startMs: number; payments: OutcomeCounts; ticketsSigned: number }[];
  activeSessions: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

/** The Prometheus series this recorder feeds (src/server/metrics.ts defines them). */
export interface ActivityMetrics {
  payments: Counter<"outcome">;
  paymentDuration: Histogram;
  ticketsSigned: Counter;
  faceValue: Counter;
  expectedValue: Counter;
}

export interface ActivityOptions {
  bucketSeconds?: number;
  buckets?: number;
  /** Most state ids remembered for the active-session count; the oldest are forgotten first. */
  maxSessions?: number;
  now?: Clock;
  /** -workers: the other workers' latest exportState(), added into snapshot(). */
  peers?: () => ActivityState[];
}

/** A recorder's counts as plain data, for a -workers worker to send to the others (structured-clone safe). */
export interface ActivityState {
  totals: OutcomeCounts;
  ticketsSigned: number;
  faceValue: bigint;
  ev: { num: bigint; den: bigint };
  buckets: { index: number; payments: OutcomeCounts; ticketsSigned: number; latency: Uint32Array }[];
  activeSessions: number;
}

interface Bucket {
  index: number;
  payments: OutcomeCounts;
  ticketsSigned: number;
  latency: Uint32Array;
}

const zeroCounts = (): OutcomeCounts =>
  Object.fromEntries(PAYMENT_OUTCOMES.map((o) => [o, 0])) as OutcomeCounts;

export type ActivityRecorder = ReturnType<typeof createActivityRecorder>;

export function createActivityRecorder(metrics: ActivityMetrics, opts: ActivityOptions = {}) {
  const now = opts.now ?? systemClock;
  const bucketMs = (opts.bucketSeconds ?? 10) * 1000;
  const size = opts.buckets ?? 30;
  const windowMs = bucketMs * size;
  const maxSessions = opts.maxSessions ?? 100_000;
  const startedAtMs = now();

  const { payments, paymentDuration: duration } = metrics;
  // Every outcome is exported from the start, at 0, so a dashboard's series exist before traffic.
  for (const o of PAYMENT_OUTCOMES) payments.inc({ outcome: o }, 0);

  const totals = zeroCounts();
  let ticketsSigned = 0;
  let faceValue = 0n;
  // EV signed so far, summed unreduced while the batches share a denominator (a session's params
  // do): reducing 256-bit fractions on every call costs more than the rest of the bookkeeping.
  const EV_REDUCE_ABOVE = 1n << 2048n;
  let evNum = 0n;
  let evDen = 1n;
  const evTotal = () => new Rat(evNum, evDen);
  const ring: (Bucket | undefined)[] = new Array(size);
  /** state id -> last seen, ms; insertion order is recency order (touched ids are re-inserted) */
  const sessions = new Map<string, number>();

  function current(): Bucket {
    const index = Math.floor(now() / bucketMs);
    const slot = index % size;
    let b = ring[slot];
    if (!b || b.index !== index) {
      b = { index, payments: zeroCounts(), ticketsSigned: 0, latency: new Uint32Array(LATENCY_BINS) };
      ring[slot] = b;
    }
    return b;
  }

  function pruneSessions(): void {
    const oldest = now() - windowMs;
    dropOldest(sessions, (seen) => seen >= oldest, maxSessions);
  }

  const closing = new AbortController();

  return {
    startedAtMs,
    /** Aborted by close(): activity streams end, so they do not hold up a graceful shutdown. */
    closed: closing.signal,
    close(): void {
      closing.abort();
    },

    /** One GenerateLivePayment call: its outcome, the time it took, and its session, if any. */
    payment(outcome: PaymentOutcome, seconds: number, stateId?: string): void {
      payments.inc({ outcome });
      duration.observe(seconds);
      totals[outcome]++;
      const b = current();
      b.payments[outcome]++;
      b.latency[latencyBin(seconds * 1000)]!++;
      if (stateId !== undefined) {
        sessions.delete(stateId);
        sessions.set(stateId, now());
        if (sessions.size > maxSessions) pruneSessions();
      }
    },

    /** A signed batch (PaymentDeps.onTicketsSigned). */
    ticketsSigned(batch: { numTickets: number; faceValue: bigint; ev: Rat }): void {
      const n = batch.numTickets;
      metrics.ticketsSigned.inc(n);
      metrics.faceValue.inc(Number(batch.faceValue) * n);
      metrics.expectedValue.inc((Number(batch.ev.num) / Number(batch.ev.den)) * n);
      ticketsSigned += n;
      faceValue += batch.faceValue * BigInt(n);
      const add = batch.ev.num * BigInt(n);
      if (batch.ev.den === evDen) evNum += add;
      else {
        evNum = evNum * batch.ev.den + add * evDen;
        evDen *= batch.ev.den;
        // Mixed denominators (several orchestrators) multiply up: reduce when they grow large.
        if (evDen > EV_REDUCE_ABOVE) ({ num: evNum, den: evDen } = new Rat(evNum, evDen));
      }
      current().ticketsSigned += n;
    },

    exportState(): ActivityState {
      pruneSessions();
      const last = current().index;
      const ev = evTotal();
      return {
        totals: { ...totals },
        ticketsSigned,
        faceValue,
        ev: { num: ev.num, den: ev.den },
        buckets: ring.filter((b): b is Bucket => b !== undefined && b.index > last - size).map((b) => ({ ...b, payments: { ...b.payments } })),
        activeSessions: sessions.size,
      };
    },

    /** This recorder's counts plus the peers' (-workers): totals and buckets add up; sessions are summed (a session that moved between workers counts in each). */
    snapshot(): ActivitySnapshot {
      const t = now();
      const last = current().index;
      const peers = opts.peers?.() ?? [];
      const sum = { totals: { ...totals }, ticketsSigned, faceValue, ev: evTotal(), activeSessions: (pruneSessions(), sessions.size) };
      const byIndex = new Map<number, Bucket[]>();
      const add = (b: Bucket) => byIndex.set(b.index, [...(byIndex.get(b.index) ?? []), b]);
      for (const b of ring) if (b) add(b);
      for (const p of peers) {
        for (const o of PAYMENT_OUTCOMES) sum.totals[o] += p.totals[o];
        sum.ticketsSigned += p.ticketsSigned;
        sum.faceValue += p.faceValue;
        sum.ev = sum.ev.add(new Rat(p.ev.num, p.ev.den));
        sum.activeSessions += p.activeSessions;
        for (const b of p.buckets) add(b);
      }
      const buckets: ActivitySnapshot["buckets"] = [];
      const histograms: Uint32Array[] = [];
      for (let index = last - size + 1; index <= last; index++) {
        const payments = zeroCounts();
        let signed = 0;
        for (const b of byIndex.get(index) ?? []) {
          for (const o of PAYMENT_OUTCOMES) payments[o] += b.payments[o];
          signed += b.ticketsSigned;
          histograms.push(b.latency);
        }
        buckets.push({ startMs: index * bucketMs, payments, ticketsSigned: signed });
      }
      return {
        timeMs: t,
        startedAtMs,
        ...sum,
        bucketSeconds: bucketMs / 1000,
        windowSeconds: windowMs / 1000,
        buckets,
        latencyP50Ms: latencyQuantile(histograms, 0.5),
        latencyP99Ms: latencyQuantile(histograms, 0.99),
      };
    },
  };
}
