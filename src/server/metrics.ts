import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ChainStatus, ChainView } from "../chain/chain-view.js";
import type { Admission } from "./admission.js";
import { rateAgeMs, type PriceFeedView } from "../pricing/price-feed.js";
import { ceilingWei, type Ceiling, type PriceLimits } from "../pricing/price-limits.js";
import { capabilityPipeline } from "../pricing/capabilities.js";
import { feedPrice } from "../pricing/usd-conversion.js";

/**
 * The signer's Prometheus metrics, on their own registry: the one place its counters live.
 * GET /metrics serves them; anything else that shows the same numbers reads
 * `registry.getMetricsAsJSON()` rather than keeping counters of its own.
 */
export function createSignerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let chain: ChainView | undefined;
  /** Gauges read from the chain view at scrape time; registered when a view is first attached. */
  const registerChainGauges = () => {
    const gauge = (name: string, help: string, read: (status: ChainStatus) => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        // Every -workers worker reports the same chain view: summing would multiply it.
        aggregator: "first",
        collect() {
          if (chain) this.set(read(chain.status()));
        },
      });
    gauge("lpsigner_chain_view_age_seconds", "Age of the cached chain view, seconds", (st) => st.ageMs / 1000);
    gauge("lpsigner_chain_round", "Last initialized round in the chain view", (st) => Number(st.snapshot?.lastInitializedRound ?? 0n));
    gauge("lpsigner_sender_deposit_wei", "The signer's TicketBroker deposit, wei", (st) => Number(st.snapshot?.sender.deposit ?? 0n));
    gauge("lpsigner_sender_reserve_wei", "The signer's TicketBroker reserve, wei", (st) => Number(st.snapshot?.sender.reserve ?? 0n));
  };

  return {
    registry,
    /** Labels: rpc (a Connect method name or a fixed legacy route label), code. */
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
    /** Fed by src/activity's recorder, which streams the same events to the dashboard. */
    payments: new Counter({
      name: "lpsigner_payments_total",
      help: "GenerateLivePayment calls (Connect and legacy) by outcome",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    paymentDuration: new Histogram({
      name: "lpsigner_payment_duration_seconds",
      help: "Time the signer spent on a GenerateLivePayment call, all outcomes",
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
    /** Requests refused before any work: reason is busy, streams, slow-reader (dropped) or cross-site. */
    refused: new Counter({
      name: "lpsigner_refused_total",
      help: "Requests refused before any work (busy: payment calls in flight at the bound; streams: streams open at the bound; slow-reader: a stream dropped for not reading; cross-site: a browser POST from another site)",
      labelNames: ["reason"],
      registers: [registry],
    }),
    /** Reports the payment calls in flight and the streams open (read at each scrape). */
    watchAdmission(admission: Admission): void {
      new Gauge({
        name: "lpsigner_payments_in_flight",
        help: "GenerateLivePayment calls in flight (bounded by -maxInFlightPayments per process)",
        registers: [registry],
        collect() {
          this.set(admission.inUse().payments);
        },
      });
      new Gauge({
        name: "lpsigner_streams_open",
        help: "Long-lived streams open (bounded by -maxWatchStreams per process)",
        registers: [registry],
        collect() {
          this.set(admission.inUse().streams);
        },
      });
    },
    /** Reports the ETH rate's age and value, and the ceilings in force in wei per pixel (read at each scrape). */
    watchPriceFeed(feed: PriceFeedView, prices: PriceLimits): void {
      const gauge = (name: string, help: string, collect: (g: Gauge) => void, labelNames: string[] = []) =>
        new Gauge({ name, help, labelNames, registers: [registry], aggregator: "first", collect() { collect(this); } });
      gauge("lpsigner_price_feed_age_seconds", "Age of the price feed's rate (now − its round's updatedAt), seconds; -1 before a read", (g) => {
        const age = rateAgeMs(feed.state(), Date.now());
        g.set(age === undefined ? -1 : age / 1000);
      });
      gauge("lpsigner_price_feed_rate", "The price feed's answer / 10^decimals (e.g. USD per ETH)", (g) => {
        const round = feed.state().round;
        g.set(round ? Number(feedPrice(round.answer, round.decimals).toFixed(8)) : 0);
      });
      gauge("lpsigner_price_feed_usable", "1 when the rate may be used (read, not older than -priceFeedMaxAge), else 0", (g) => g.set(feed.problem() ? 0 : 1));
      gauge(
        "lpsigner_max_price_wei_per_pixel",
        "Ceilings in force at the current rate, wei per pixel (pipeline and model_id empty: -maxPricePerUnit); absent while the rate is unusable",
        (g) => {
          g.reset();
          const set = (labels: Record<string, string>, ceiling: Ceiling) => {
            try {
              g.set(labels, Number(ceilingWei(prices, ceiling).toFixed(6)));
            } catch {
              // no rate: no ceiling in force
            }
          };
          if (prices.maxPrice) set({ pipeline: "", model_id: "" }, prices.maxPrice);
          for (const [capability, models] of prices.perCapability) {
            for (const [modelId, ceiling] of models) set({ pipeline: capabilityPipeline(capability) ?? String(capability), model_id: modelId }, ceiling);
          }
        },
        ["pipeline", "model_id"],
      );
    },
    /** Reports this chain view's age, round, deposit and reserve (read at each scrape). */
    watchChain(view: ChainView): void {
      if (!chain) registerChainGauges();
      chain = view;
    },
  };
}
export type SignerMetrics = ReturnType<typeof createSignerMetrics>;

/** GET /metrics in Prometheus' text format. */
export async function serveMetrics(
  metrics: SignerMetrics,
  res: ServerResponse | Http2ServerResponse,
  text: () => Promise<string> = () => metrics.registry.metrics(),
  pace: () => Promise<boolean> = async () => true,
): Promise<void> {
  if (!(await pace())) {
    res.writeHead(503, { "Content-Type": "text/plain; charset=utf-8", "Retry-After": "1" });
    res.end("too many scrapes waiting\n");
    return;
  }
  let body: string;
  try {
    body = await text();
  } catch {
    res.writeHead(503, { "Content-Type": "text/plain; charset=utf-8" });
    res.end("metrics unavailable\n");
    return;
  }
  res.writeHead(200, { "Content-Type": metrics.registry.contentType });
  res.end(body);
}

/** fn, with concurrent callers sharing the call under way. */
export function singleFlight<T>(fn: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () =>
    (running ??= fn().finally(() => {
      running = undefined;
    }));
}

/** fn, with its result (or the call under way) shared by every caller for ms after it settles. */
export function cachedFor<T>(ms: number, fn: () => Promise<T>): () => Promise<T> {
  let last: { value: Promise<T>; until: number } | undefined;
  return () => {
    const now = performance.now();
    if (last && now < last.until) return last.value;
    const value = fn();
    const entry = { value, until: Infinity };
    last = entry;
    value.then(
      () => (entry.until = performance.now() + ms),
      () => (entry.until = 0), // a failed collection is not kept
    );
    return value;
  };
}

/**
 * At most `perSecond` callers a second pass; the rest wait their turn, `maxWaiting` at most, and
 * past that are told no at once. For /metrics: Prometheus scrapes each target every few seconds,
 * and a scrape loop should not take the event loop from payments at thousands a second.
 */
export function createPacer(perSecond: number, maxWaiting: number): () => Promise<boolean> {
  const gapMs = 1000 / perSecond;
  let nextAt = 0;
  let waiting = 0;
  return async () => {
    const now = performance.now();
    const at = Math.max(now, nextAt);
    if (at > now && waiting >= maxWaiting) return false;
    nextAt = at + gapMs;
    if (at > now) {
      waiting++;
      await new Promise((resolve) => setTimeout(resolve, at - now));
      waiting--;
    }
    return true;
  };
}
