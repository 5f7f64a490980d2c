import { toHex } from "../crypto/bytes.js";
import type { PriceLimits } from "../pricing/price-limits.js";
import { isBlocklisted, normalizeBlocklist } from "./blocklist.js";
import { buildSnapshot, type DiscoveryEntry, type DiscoveryLogger, type PolledOrchestrator, selectEntries } from "./build-snapshot.js";
import { encodeRunnerJson, type RunnerDiscoveryEntry } from "./live-runner.js";
import { createOrchestratorRequest, type RequestSigner } from "./orchestrator-request.js";
import { DEFAULT_POLL_TIMEOUT_MS, orchestratorUrl, pollOrchestrator, type PollOrchestratorResult } from "./poll-orchestrator.js";
import type { OrchestratorSource } from "./sources.js";
import { systemClock, type Clock } from "../clock.js";

/** The reference's -liveAICapReportInterval default (25 minutes). */
export const DEFAULT_DISCOVERY_INTERVAL_MS = 25 * 60_000;
export const DEFAULT_POLL_CONCURRENCY = 8;

/** Callbacks for metrics (bound to prom-client by the caller). */
export interface DiscoveryMetrics {
  /** One GetOrchestrator poll finished (ok) or failed, after `seconds`. */
  pollLatency?(seconds: number, ok: boolean): void;
  /** Orchestrators polled in the last round. */
  known?(n: number): void;
  /** Orchestrators in the last snapshot. */
  eligible?(n: number): void;
}

export interface DiscoverySnapshot {
  orchestrators: DiscoveryEntry[];
  /** When it was built, ms since the epoch; 0 before the first round. */
  builtAt: number;
}

export interface DiscoveryOptions {
  source: OrchestratorSource;
  /** Signs the GetOrchestrator requests: a key in this process, or a remote key's signature made at start. */
  signer: RequestSigner;
  prices: PriceLimits;
  /** Time between rebuilds (-liveAICapReportInterval); default 25 min. */
  intervalMs?: number;
  /** Bound on one orchestrator's poll; default 3 s. */
  timeoutMs?: number;
  /** Orchestrators polled at once; default 8. */
  concurrency?: number;
  /** Advertised nodes (OrchestratorInfo.nodes) followed per orchestrator, one level deep (-extraNodes); default 0. */
  extraNodes?: number;
  /**
   * -orchBlocklist: Ethereum addresses ("0x" optional, any case). An orchestrator whose
   * OrchestratorInfo.address is listed is left out, with its `/discovery` runners; its advertised
   * nodes are still followed and judged by their own address, as the reference does.
   */
  blocklist?: readonly string[];
  /** Fetch each orchestrator's `/discovery` runner list; default true. */
  runnerDiscovery?: boolean;
  now?: Clock;
  logger?: DiscoveryLogger;
  metrics?: DiscoveryMetrics;
  /** The poll, replaceable for tools; defaults to the gRPC poll. */
  poll?: typeof pollOrchestrator;
}

export interface Discovery {
  /** Builds the first snapshot in the background and rebuilds it every interval. */
  start(): void;
  /** Runs one round now (rounds never overlap: a call during a round waits for it). */
  refresh(): Promise<void>;
  snapshot(): DiscoverySnapshot;
  /** Orchestrators offering any of `caps` (deduplicated by URL); all when `caps` is empty. */
  select(caps: string[]): DiscoveryEntry[];
  /** Called with each rebuilt snapshot that differs from the one before; returns the unsubscribe. */
  subscribe(listener: (snapshot: DiscoverySnapshot) => void): () => void;
  /** Called with every rebuilt snapshot, changed or not (its times advance): for relaying it. */
  onRebuilt(listener: (snapshot: DiscoverySnapshot) => void): () => void;
  close(): void;
}

/**
 * Orchestrator discovery for the remote signer: polls the source's orchestrators in the
 * background and serves price-eligible orchestrators from memory, never on the request path.
 */
export function createDiscovery(opts: DiscoveryOptions): Discovery {
  const intervalMs = opts.intervalMs && opts.intervalMs > 0 ? opts.intervalMs : DEFAULT_DISCOVERY_INTERVAL_MS;
  const timeoutMs = opts.timeoutMs && opts.timeoutMs > 0 ? opts.timeoutMs : DEFAULT_POLL_TIMEOUT_MS;
  const concurrency = Math.max(1, opts.concurrency ?? DEFAULT_POLL_CONCURRENCY);
  const extraNodes = Math.max(0, opts.extraNodes ?? 0);
  const blocklist = normalizeBlocklist(opts.blocklist ?? []);
  const runnerDiscovery = opts.runnerDiscovery ?? true;
  const now = opts.now ?? systemClock;
  const poll = opts.poll ?? pollOrchestrator;
  const { logger, metrics } = opts;
  const request = createOrchestratorRequest(opts.signer);

  // Each polled address's last usable `/discovery` reply, kept for rounds where GetOrchestrator
  // answers but `/discovery` does not (go-livepeer #4087/#4089); only addresses still polled stay.
  let lastRunners = new Map<string, { discovery: RunnerDiscoveryEntry[]; seenAt: number }>();
  let current: DiscoverySnapshot = { orchestrators: [], builtAt: 0 };
  let currentKey = snapshotKey([]);
  let inFlight: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const listeners = new Set<(snapshot: DiscoverySnapshot) => void>();
  const rebuiltListeners = new Set<(snapshot: DiscoverySnapshot) => void>();
  const tell = (to: Iterable<(snapshot: DiscoverySnapshot) => void>) => {
    for (const listener of to) {
      try {
        listener(current);
      } catch (err) {
        logger?.warn({ err: (err as Error).message }, "discovery listener failed");
      }
    }
  };

  async function pollAll(addresses: string[]): Promise<PolledOrchestrator[]> {
    const queue: { address: string; level: number }[] = [];
    const seen = new Set<string>();
    const enqueue = (address: string, level: number) => {
      if (address === "" || seen.has(address)) return;
      seen.add(address);
      queue.push({ address, level });
    };
    for (const a of addresses) enqueue(a, 0);
    const results: (PolledOrchestrator | undefined)[] = [];

    const pollOne = async (index: number): Promise<void> => {
      const { address, level } = queue[index]!;
      const url = orchestratorUrl(address);
      if (!url) {
        logger?.warn({ orch: address }, "skipping orchestrator: no host in its URL");
        return;
      }
      const started = performance.now();
      let res: PollOrchestratorResult;
      try {
        res = await poll({ url, request, timeoutMs, runnerDiscovery });
      } catch (err) {
        metrics?.pollLatency?.((performance.now() - started) / 1000, false);
        logger?.info({ orch: address, err: (err as Error).message }, "orchestrator poll failed");
        return;
      }
      metrics?.pollLatency?.((performance.now() - started) / 1000, true);
      if (level === 0) {
        for (const node of res.info.nodes.slice(0, extraNodes)) {
          if (orchestratorUrl(node)) enqueue(node.startsWith("http") ? node : `https://${node}`, 1);
        }
      }
      if (isBlocklisted(blocklist, res.info.address)) {
        logger?.info({ orch: address }, "orchestrator is blocklisted");
        return;
      }
      const seenAt = now();
      let discovery = res.discovery;
      let discoverySeenAt = seenAt;
      const kept = lastRunners.get(address);
      if (discovery !== undefined) {
        lastRunners.set(address, { discovery, seenAt });
      } else if (kept && runnerDiscovery) {
        logger?.info({ orch: address, since: kept.seenAt }, "orchestrator /discovery failed; keeping its last runners");
        ({ discovery, seenAt: discoverySeenAt } = kept);
      }
      results[index] = { url: address, info: res.info, discovery, seenAt, discoverySeenAt };
    };

    let next = 0;
    const worker = async () => {
      while (next < queue.length) await pollOne(next++);
    };
    // Workers stop when the queue is drained; nodes found late get fresh workers.
    while (next < queue.length) {
      const n = Math.min(concurrency, queue.length - next);
      await Promise.all(Array.from({ length: n }, worker));
    }
    metrics?.known?.(queue.length);
    lastRunners = new Map([...lastRunners].filter(([address]) => seen.has(address)));
    return results.filter((r): r is PolledOrchestrator => r !== undefined);
  }

  async function round(): Promise<void> {
    let addresses: string[];
    try {
      addresses = await opts.source.list();
    } catch (err) {
      logger?.warn({ source: opts.source.kind, err: (err as Error).message }, "orchestrator source failed; keeping the last snapshot");
      return;
    }
    const polled = await pollAll(addresses);
    if (closed) return;
    let orchestrators: DiscoveryEntry[];
    try {
      orchestrators = buildSnapshot({ polled, limits: opts.prices, ...(logger ? { logger } : {}) });
    } catch (err) {
      // A USD ceiling without a usable ETH rate: prices cannot be judged, so nothing changes.
      logger?.warn({ err: (err as Error).message }, "cannot apply the price ceilings; keeping the last snapshot");
      return;
    }
    metrics?.eligible?.(orchestrators.length);
    current = { orchestrators, builtAt: now() };
    const key = snapshotKey(orchestrators);
    logger?.info({ source: opts.source.kind, polled: addresses.length, answered: polled.length, eligible: orchestrators.length }, "discovery snapshot built");
    tell(rebuiltListeners);
    if (key === currentKey) return;
    currentKey = key;
    tell(listeners);
  }

  function refresh(): Promise<void> {
    if (closed) return Promise.resolve();
    inFlight ??= round().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  return {
    start() {
      if (closed || timer) return;
      void refresh();
      timer = setInterval(() => void refresh(), intervalMs);
      timer.unref();
    },
    refresh,
    snapshot: () => current,
    select: (caps) => selectEntries(current.orchestrators, caps),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onRebuilt(listener) {
      rebuiltListeners.add(listener);
      return () => rebuiltListeners.delete(listener);
    },
    close() {
      closed = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      listeners.clear();
      rebuiltListeners.clear();
    },
  };
}

/** What a subscriber cares about: everything but the times. */
export function snapshotKey(entries: DiscoveryEntry[]): string {
  return JSON.stringify(
    entries.map((e) => [
      e.url,
      toHex(e.ethAddress),
      e.capabilityPrices.map((c) => [c.key, String(c.pricePerUnit), String(c.pixelsPerUnit)]),
      e.capabilities,
      e.runners.map(encodeRunnerJson),
      e.priceInfo ? [String(e.priceInfo.pricePerUnit), String(e.priceInfo.pixelsPerUnit)] : null,
    ]),
  );
}
