/**
 * -workers N (N > 1): this process holds the key, the chain view and discovery (one poller each)
 * and forks N node:cluster workers that share the listening port and serve everything. It relays
 * the chain view and discovery snapshot to them, sums their /metrics and activity, replaces a
 * worker that dies, and on close drains every worker before it stops.
 *
 * Why processes and not worker threads for signing: ECDSA and Keccak are a minority of a call's
 * CPU (HTTP, JSON, protobuf and big-number work are the rest), so only whole-request parallelism
 * uses every core; the signer keeps no per-session state, so any worker can answer any call.
 */
import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from "prom-client";
import type { ActivityState } from "../activity/recorder.js";
import { ConfigError, type Config } from "../config.js";
import type { Outbox } from "../events/outbox.js";
import { startEventOutbox } from "../events/runtime.js";
import { createEthSigner } from "../crypto/eth-sign.js";
import type { Discovery } from "../discovery/index.js";
import { createSignerMetrics } from "../server/create-server.js";
import { cachedFor } from "../server/metrics.js";
import { isRemoteSigner } from "../crypto/remote-signer.js";
import { isRemoteKey } from "../keys/open-signer.js";
import { loadKey, openChain, openSigner, pricedLimits, startDiscovery, type RunningSigner } from "../start-signer.js";
import { StartupError } from "../startup.js";
import type { ChainRelay, ToPrimary, ToWorker } from "./messages.js";
import { workerExecArgv } from "./v8-flags.js";

const RELAY_MS = 1000;
const COLLECT_TIMEOUT_MS = 2000;
/** One collection from every worker serves all scrapes for this long: scrapes cannot multiply IPC work. */
const METRICS_CACHE_MS = 1000;
/** A worker that dies sooner than this after its start is replaced after a pause, not at once. */
const CRASH_LOOP_MS = 5000;
const DRAIN_MS = 10_000;

interface Member {
  worker: Worker;
  startedAt: number;
  activity: ActivityState | undefined;
}

export async function startCluster(config: Config, logger: Logger): Promise<RunningSigner> {
  for (const warning of config.warnings) logger.warn(warning);
  // A key this process holds is loaded once and handed to the workers; a remote key is opened
  // here (discovery's requests, the dashboard's status) and by each worker for itself.
  const key = isRemoteKey(config.key) ? undefined : await loadKey(config.key, logger);
  const signer = key ? createEthSigner(key) : await openSigner(config.key, logger);
  const chainParts = await openChain(config, signer, logger).catch(async (err: unknown) => {
    if (isRemoteSigner(signer)) await signer.close().catch(() => {});
    throw err;
  });
  const { chain, devChain, devOrchestrators, priceFeed } = chainParts;
  const metrics = createSignerMetrics();
  let discovery: Discovery | undefined;
  // The primary opens the outbox first (its schema), then owns metrics, pruning and delivery;
  // each worker opens the same file to append its own events before its replies.
  let outbox: Outbox | undefined;
  let duties: { stop(): Promise<void> } | undefined;
  try {
    ({ outbox, duties } = startEventOutbox(config.events, config.kafka, metrics.registry, logger, "primary") ?? {});
    discovery =
      chainParts.discovery &&
      (await startDiscovery({ ...config, discovery: chainParts.discovery, prices: pricedLimits(config.prices, priceFeed) }, chain, signer, metrics, logger));
  } catch (err) {
    await duties?.stop();
    outbox?.close();
    await chainParts.close();
    if (isRemoteSigner(signer)) await signer.close().catch(() => {});
    throw err;
  }

  const relayChain = (): ChainRelay => {
    let error: string | undefined;
    try {
      chain.current();
    } catch (err) {
      error = (err as Error).message;
    }
    return { status: chain.status(), error };
  };
  const members = new Map<number, Member>();
  const broadcast = (m: ToWorker) => {
    for (const { worker } of members.values()) if (worker.isConnected()) worker.send(m);
  };
  let stopping = false;
  let started: ((m: Extract<ToPrimary, { t: "listening" }>) => void) | undefined;
  let failed: ((err: Error) => void) | undefined;
  const listening = new Set<number>();

  const collections = new Map<number, { replies: MetricObjectWithValues<MetricValue<string>>[][]; expected: number; done: () => void }>();
  let nextCollection = 0;
  /** Every worker's metrics and the primary's (discovery, its process), summed by label set. */
  async function collectMetrics(): Promise<string> {
    const id = nextCollection++;
    const replies: MetricObjectWithValues<MetricValue<string>>[][] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, COLLECT_TIMEOUT_MS);
      collections.set(id, { replies, expected: members.size, done: () => (clearTimeout(timer), resolve()) });
      broadcast({ t: "collect", id });
    });
    collections.delete(id);
    return AggregatorRegistry.aggregate([await metrics.registry.getMetricsAsJSON(), ...replies]).metrics();
  }

  const cachedMetrics = cachedFor(METRICS_CACHE_MS, collectMetrics);

  function onMessage(member: Member, m: ToPrimary): void {
    const { worker } = member;
    if (m.t === "ready") {
      worker.send({ t: "init", key, chain: relayChain(), discovery: discovery?.snapshot(), priceFeed: priceFeed?.state() } satisfies ToWorker);
    } else if (m.t === "listening") {
      listening.add(worker.id);
      if (listening.size === config.workers) started?.(m);
    } else if (m.t === "fatal") {
      failed?.(m.config ? new ConfigError(m.message) : new StartupError(m.message));
      if (!failed) logger.error({ worker: worker.id, reason: m.message }, "worker could not start");
    } else if (m.t === "activity") {
      member.activity = m.state;
    } else if (m.t === "collected") {
      const c = collections.get(m.id);
      if (!c) return;
      c.replies.push(m.metrics);
      if (c.replies.length >= c.expected) c.done();
    } else if (m.t === "metrics?") {
      cachedMetrics().then(
        (text) => worker.isConnected() && worker.send({ t: "metrics", id: m.id, text } satisfies ToWorker),
        (err: unknown) => {
          logger.warn({ err }, "could not sum the workers' metrics");
          if (worker.isConnected()) worker.send({ t: "metrics", id: m.id, text: undefined } satisfies ToWorker);
        },
      );
    }
  }

  cluster.setupPrimary({ serialization: "advanced", execArgv: workerExecArgv() });
  const fork = () => {
    const worker = cluster.fork();
    const member: Member = { worker, startedAt: Date.now(), activity: undefined };
    members.set(worker.id, member);
    worker.on("message", (m: ToPrimary) => onMessage(member, m));
    // A send to a worker that has just died fails with EPIPE or a closed channel, re-emitted as
    // 'error' on its Worker: unheard, that would throw and take the primary, and with it the
    // listening port, down with the worker. Its exit is handled below.
    worker.on("error", (err: Error) => logger.warn({ worker: worker.id, err }, "worker channel error"));
    return worker;
  };
  cluster.on("exit", (worker, code, signal) => {
    const member = members.get(worker.id);
    members.delete(worker.id);
    listening.delete(worker.id);
    if (stopping || !member) return;
    if (failed) {
      failed(new StartupError(`a worker exited during startup (${signal ?? `code ${code}`})`));
      return;
    }
    const early = Date.now() - member.startedAt < CRASH_LOOP_MS;
    logger.error({ worker: worker.id, workerPid: worker.process.pid, code, signal }, "worker died; starting a replacement");
    setTimeout(() => stopping || fork(), early ? 1000 : 0).unref();
  });

  const relay = setInterval(() => {
    broadcast({ t: "chain", chain: relayChain() });
    if (priceFeed) broadcast({ t: "priceFeed", state: priceFeed.state() });
    for (const [id, { worker }] of members) {
      const states = [...members].filter(([other, m]) => other !== id && m.activity).map(([, m]) => m.activity!);
      if (worker.isConnected()) worker.send({ t: "peers", states } satisfies ToWorker);
    }
  }, RELAY_MS);
  // Every rebuilt snapshot, not only changed ones: its snapshotTime and last_seen advance.
  const unsubscribe = discovery?.onRebuilt((snapshot) => broadcast({ t: "discovery", snapshot }));

  async function close(): Promise<void> {
    stopping = true;
    clearInterval(relay);
    unsubscribe?.();
    discovery?.close();
    const exits = [...members.values()].map(
      ({ worker }) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          worker.once("exit", () => resolve());
          if (worker.isConnected()) worker.send({ t: "shutdown" } satisfies ToWorker);
          // A worker that does not drain in time is stopped.
          setTimeout(() => worker.isDead() || worker.process.kill("SIGKILL"), DRAIN_MS + 5000).unref();
        }),
    );
    await Promise.all(exits);
    await duties?.stop();
    outbox?.close();
    await chainParts.close();
    if (isRemoteSigner(signer)) await signer.close().catch(() => {});
  }

  try {
    const first = await new Promise<Extract<ToPrimary, { t: "listening" }>>((resolve, reject) => {
      started = resolve;
      failed = reject;
      for (let i = 0; i < config.workers; i++) fork();
    });
    started = undefined;
    failed = undefined;
    logger.info({ workers: config.workers }, "workers listening");
    return { address: signer.addressHex, url: first.url, host: first.host, port: first.port, devChain, devOrchestrators, chain, signer, close };
  } catch (err) {
    failed = undefined;
    await close();
    throw err;
  }
}
