/**
 * A -workers worker: serves the port (shared through node:cluster) with the primary's key, chain
 * view and discovery snapshot, relayed over IPC; it never reads the chain or polls orchestrators
 * itself. It reports its activity every second and answers the primary's metrics collections.
 */
import cluster from "node:cluster";
import { pino } from "pino";
import { Gauge } from "prom-client";
import { createActivityRecorder, type ActivityState } from "../activity/recorder.js";
import { ChainUnavailableError, type ChainView } from "../chain/chain-view.js";
import { ConfigError, loadConfig, parseFlags } from "../config.js";
import { createEthSigner } from "../crypto/eth-sign.js";
import { selectEntries } from "../discovery/build-snapshot.js";
import { snapshotKey, type DiscoverySnapshot } from "../discovery/discovery.js";
import type { DiscoveryView } from "../discovery/service-adapters.js";
import { createSignerMetrics } from "../server/create-server.js";
import { openSigner, serveSigner } from "../start-signer.js";
import { openEventOutbox } from "../events/runtime.js";
import type { ChainRelay, ToPrimary, ToWorker } from "./messages.js";
import { relayedPriceFeed } from "../pricing/price-feed.js";

const ACTIVITY_REPORT_MS = 1000;
const METRICS_TIMEOUT_MS = 5000;

/** The primary's chain view, as last relayed; staleness is judged here, from the snapshot's readAt. */
function relayedChainView(first: ChainRelay, maxStalenessMs: number): ChainView & { update(relay: ChainRelay): void } {
  let relay = first;
  const ageMs = () => (relay.status.snapshot ? Math.max(0, Date.now() - relay.status.snapshot.readAt) : Infinity);
  return {
    current() {
      const age = ageMs();
      if (relay.status.snapshot && age <= maxStalenessMs) return relay.status.snapshot;
      throw new ChainUnavailableError(relay.error ?? `chain view is ${age} ms old (limit ${maxStalenessMs} ms)`);
    },
    status: () => ({ ...relay.status, ageMs: ageMs(), stale: ageMs() > maxStalenessMs }),
    registeredOrchestrators: () => Promise.reject(new Error("the -workers primary reads the orchestrator pool")),
    close: async () => {},
    update(next) {
      relay = next;
    },
  };
}

/** The primary's discovery snapshot, as last relayed; subscribers hear of changes only, as in one process. */
function relayedDiscovery(first: DiscoverySnapshot): DiscoveryView & { update(snapshot: DiscoverySnapshot): void } {
  let current = first;
  let currentKey = snapshotKey(first.orchestrators);
  const listeners = new Set<(s: DiscoverySnapshot) => void>();
  return {
    snapshot: () => current,
    select: (caps) => selectEntries(current.orchestrators, caps),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    update(snapshot) {
      current = snapshot;
      const key = snapshotKey(snapshot.orchestrators);
      if (key === currentKey) return;
      currentKey = key;
      for (const l of listeners) l(snapshot);
    },
  };
}

export async function runWorker(): Promise<void> {
  const send = (m: ToPrimary) => process.send?.(m);
  const id = cluster.worker!.id;
  // The primary parsed the same flags (its argv and environment) and exits on a mistake first.
  const config = loadConfig(parseFlags(process.argv.slice(2))!);
  const logger = pino({ level: config.logLevel }).child({ worker: id });
  const init = await new Promise<Extract<ToWorker, { t: "init" }>>((resolve) => {
    const first = (m: ToWorker) => {
      if (m.t !== "init") return;
      process.off("message", first);
      resolve(m);
    };
    process.on("message", first);
    send({ t: "ready" });
  });

  let signer;
  try {
    signer = init.key ? createEthSigner(init.key) : await openSigner(config.key, logger);
  } catch (err) {
    const fatal: ToPrimary = { t: "fatal", message: err instanceof Error ? err.message : String(err), config: err instanceof ConfigError };
    process.send!(fatal, () => process.exit(1));
    return;
  }
  init.key?.fill(0);
  const chain = relayedChainView(init.chain, config.chainMaxStalenessMs);
  // The primary's one reader, relayed every second (USD ceilings).
  const priceFeed = init.priceFeed && config.priceFeed ? relayedPriceFeed(init.priceFeed, config.priceFeed.maxAgeMs) : undefined;
  // Discovery is on when the primary runs it (-remoteDiscovery, or by default on the dev chain).
  const discovery = init.discovery && relayedDiscovery(init.discovery);
  let peers: ActivityState[] = [];
  const metrics = createSignerMetrics();
  const activity = createActivityRecorder(metrics, { peers: () => peers });
  new Gauge({
    name: "lpsigner_worker_payments",
    help: "GenerateLivePayment calls answered by each -workers worker since it started",
    labelNames: ["worker", "pid"],
    registers: [metrics.registry],
    collect() {
      const { totals } = activity.exportState();
      this.set({ worker: String(id), pid: String(process.pid) }, Object.values(totals).reduce((a, b) => a + b, 0));
    },
  });

  let nextMetricsId = 0;
  const metricsWaiting = new Map<number, (text: string | undefined) => void>();
  const metricsText = () =>
    new Promise<string>((resolve, reject) => {
      const mid = nextMetricsId++;
      const timer = setTimeout(() => done(undefined), METRICS_TIMEOUT_MS);
      const done = (text: string | undefined) => {
        clearTimeout(timer);
        metricsWaiting.delete(mid);
        if (text === undefined) reject(new Error("the primary did not answer"));
        else resolve(text);
      };
      metricsWaiting.set(mid, done);
      send({ t: "metrics?", id: mid });
    });

  // Each worker commits its own events to the file the primary opened, before its replies (SQLite
  // takes the writers in turn); the primary checkpoints, prunes and delivers.
  const outbox = config.events && openEventOutbox(config.events, { role: "worker" });

  let stopping: Promise<void> | undefined;
  let served: Awaited<ReturnType<typeof serveSigner>> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      activity.close();
      await served?.server.close();
      outbox?.close();
      process.exit(0);
    })();
  };
  process.on("message", (m: ToWorker) => {
    if (m.t === "chain") chain.update(m.chain);
    else if (m.t === "priceFeed") priceFeed?.update(m.state);
    else if (m.t === "discovery") discovery?.update(m.snapshot);
    else if (m.t === "peers") peers = m.states;
    else if (m.t === "collect") void metrics.registry.getMetricsAsJSON().then((list) => send({ t: "collected", id: m.id, metrics: list }));
    else if (m.t === "metrics") metricsWaiting.get(m.id)?.(m.text);
    else if (m.t === "shutdown") shutdown();
  });
  // A signal to the process group (Ctrl-C) reaches workers too; a lost primary ends the worker.
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  process.on("disconnect", shutdown);

  try {
    served = await serveSigner({ config, signer, chain, priceFeed, discovery, logger, metrics, activity, metricsText, outbox });
  } catch (err) {
    const fatal: ToPrimary = { t: "fatal", message: err instanceof Error ? err.message : String(err), config: err instanceof ConfigError };
    process.send!(fatal, () => process.exit(1));
    return;
  }
  setInterval(() => send({ t: "activity", state: activity.exportState() }), ACTIVITY_REPORT_MS).unref();
  send({ t: "listening", url: served.url, host: served.host, port: served.port });
}
