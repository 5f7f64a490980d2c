import type { OrchestratorInfo, PriceInfo } from "../../gen/net/lp_rpc_pb.js";
import { capabilityPipeline } from "../pricing/capabilities.js";
import { capabilityMaxPrice, globalMaxPrice, type PriceLimits } from "../pricing/price-limits.js";
import { Rat } from "../math/rat.js";
import { type LiveRunner, type RunnerDiscoveryEntry, runnerRejection, sameRunner } from "./live-runner.js";

/** pino-compatible subset. */
export interface DiscoveryLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

/** What one poll of one orchestrator returned. */
export interface PolledOrchestrator {
  /** The URL that was polled. */
  url: string;
  info: OrchestratorInfo;
  /**
   * The orchestrator's `/discovery` reply: this round's when it gave a usable one, else the last
   * one it gave (kept while GetOrchestrator still answers, go-livepeer #4089).
   */
  discovery: RunnerDiscoveryEntry[] | undefined;
  /** When the GetOrchestrator reply arrived, ms since the epoch. */
  seenAt: number;
  /** When `discovery` arrived, ms since the epoch; before `seenAt` when it is a kept reply. */
  discoverySeenAt?: number;
}

/** The price an orchestrator quoted for one capability key, and which of its prices that was. */
export interface CapabilityPrice {
  key: string;
  pipeline: string;
  modelId: string;
  pricePerUnit: bigint;
  pixelsPerUnit: bigint;
}

/** One orchestrator (or advertised node) in the discovery snapshot. */
export interface DiscoveryEntry {
  /** The service URL the orchestrator reports (OrchestratorInfo.transcoder) or a `/discovery` address. */
  url: string;
  /** 20-byte address from OrchestratorInfo.address; empty for nodes known only from `/discovery`. */
  ethAddress: Uint8Array;
  /** Sorted capability keys "pipeline/model" (and runner apps). */
  capabilities: string[];
  /** Prices of the price-eligible capabilities, sorted by key. */
  capabilityPrices: CapabilityPrice[];
  runners: LiveRunner[];
  priceInfo: { pricePerUnit: bigint; pixelsPerUnit: bigint } | undefined;
  /** When this entry was last heard from (GetOrchestrator or `/discovery`), ms since the epoch. */
  lastSeen: number;
  /**
   * When the `/discovery` data naming this entry arrived, ms since the epoch (the legacy JSON's
   * `last_seen`, go-livepeer #4090); undefined when no `/discovery` reply named it.
   */
  runnersSeen: number | undefined;
}

export interface BuildSnapshotParameters {
  polled: PolledOrchestrator[];
  limits: PriceLimits;
  logger?: DiscoveryLogger;
}

/** Go's url.ParseRequestURI accepts an absolute URI (scheme ":" …) or an absolute path. */
export function isRequestUri(s: string): boolean {
  if (/[\x00-\x20\x7f]/.test(s)) return false;
  return /^[A-Za-z][A-Za-z0-9+.-]*:/.test(s) || s.startsWith("/");
}

const trimSlashes = (s: string) => s.replace(/\/+$/, "");

/**
 * The price an orchestrator asks for (capability, model): its capabilities_prices entry for that
 * pair, else its global price; undefined when neither is usable (pixels per unit <= 0).
 */
export function orchestratorCapabilityPrice(info: OrchestratorInfo, capability: number, modelId: string): PriceInfo | undefined {
  for (const p of info.capabilitiesPrices) {
    if (p.pixelsPerUnit <= 0n || p.capability !== capability) continue;
    if (p.constraint === modelId) return p;
  }
  const global = info.priceInfo;
  return global && global.pixelsPerUnit > 0n ? global : undefined;
}

interface MergeEntry {
  entry: DiscoveryEntry;
  runners: Map<string, LiveRunner>;
}

/**
 * Builds the discovery snapshot from one polling round (server/remote_discovery.go refresh):
 * price-eligible capabilities per reported service URL, runners merged by URL from every
 * `/discovery` reply, entries with no capability dropped. Order follows the polled list.
 */
export function buildSnapshot({ polled, limits, logger }: BuildSnapshotParameters): DiscoveryEntry[] {
  const merged = new Map<string, MergeEntry>();
  const validNodes = new Set<string>();
  const ensure = (address: string, seenAt: number): MergeEntry => {
    const key = trimSlashes(address);
    let m = merged.get(key);
    if (!m) {
      m = {
        entry: { url: address, ethAddress: new Uint8Array(), capabilities: [], capabilityPrices: [], runners: [], priceInfo: undefined, lastSeen: seenAt, runnersSeen: undefined },
        runners: new Map(),
      };
      merged.set(key, m);
    }
    m.entry.lastSeen = Math.max(m.entry.lastSeen, seenAt);
    return m;
  };

  for (const p of polled) {
    const address = p.info.transcoder;
    if (address === "" || !isRequestUri(address)) continue;
    const eligible: CapabilityPrice[] = [];
    const perCapability = p.info.capabilities?.constraints?.PerCapability ?? {};
    for (const [capText, constraints] of Object.entries(perCapability)) {
      const capability = Number(capText);
      const pipeline = capabilityPipeline(capability);
      if (pipeline === undefined || pipeline === "") continue;
      for (const modelId of Object.keys(constraints.models)) {
        if (modelId === "") continue;
        const price = orchestratorCapabilityPrice(p.info, capability, modelId);
        if (!price) continue;
        const ceiling = capabilityMaxPrice(limits, capability, modelId) ?? globalMaxPrice(limits);
        if (ceiling && new Rat(price.pricePerUnit, price.pixelsPerUnit).cmp(ceiling) > 0) continue;
        eligible.push({ key: `${pipeline}/${modelId}`, pipeline, modelId, pricePerUnit: price.pricePerUnit, pixelsPerUnit: price.pixelsPerUnit });
      }
    }
    if (eligible.length === 0) continue;
    validNodes.add(trimSlashes(address));
    const { entry } = ensure(address, p.seenAt);
    entry.ethAddress = p.info.address;
    entry.priceInfo = p.info.priceInfo && { pricePerUnit: p.info.priceInfo.pricePerUnit, pixelsPerUnit: p.info.priceInfo.pixelsPerUnit };
    for (const c of eligible) {
      if (entry.capabilities.includes(c.key)) continue;
      entry.capabilities.push(c.key);
      entry.capabilityPrices.push(c);
    }
  }

  for (const p of polled) {
    const discoverySeenAt = p.discoverySeenAt ?? p.seenAt;
    for (const d of p.discovery ?? []) {
      if (d.address === "") continue;
      const key = trimSlashes(d.address);
      if (!validNodes.has(key) && !isRequestUri(d.address)) continue;
      const m = ensure(d.address, discoverySeenAt);
      m.entry.runnersSeen = Math.max(m.entry.runnersSeen ?? discoverySeenAt, discoverySeenAt);
      for (const r of d.runners) {
        const reason = runnerRejection(r, globalMaxPrice(limits));
        if (reason) {
          logger?.info({ orch: m.entry.url, runner: r.url, app: r.app, reason }, "filtered discovery runner");
          continue;
        }
        if (!m.entry.capabilities.includes(r.app)) m.entry.capabilities.push(r.app);
        const existing = m.runners.get(r.url);
        if (existing) {
          if (!sameRunner(existing, r)) logger?.warn({ orch: m.entry.url, runner: r.url }, "conflicting discovery runner; keeping first");
          continue;
        }
        m.runners.set(r.url, r);
      }
    }
  }

  const out: DiscoveryEntry[] = [];
  for (const { entry, runners } of merged.values()) {
    if (entry.capabilities.length === 0) continue;
    entry.capabilities.sort(compareStrings);
    entry.capabilityPrices.sort((a, b) => compareStrings(a.key, b.key));
    entry.runners = [...runners.values()];
    out.push(entry);
  }
  return out;
}

/** Go's sort.Strings order (bytewise; the same as code-unit order for these ASCII keys). */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The orchestrators offering any of `caps`, each once (by URL), in the order the caps were
 * asked and then snapshot order; all of them when `caps` is empty.
 */
export function selectEntries(entries: DiscoveryEntry[], caps: string[]): DiscoveryEntry[] {
  const wanted = caps.filter((c) => c !== "");
  if (wanted.length === 0) return [...entries];
  const seen = new Set<string>();
  const out: DiscoveryEntry[] = [];
  for (const cap of wanted) {
    for (const e of entries) {
      if (!e.capabilities.includes(cap) || seen.has(e.url)) continue;
      seen.add(e.url);
      out.push(e);
    }
  }
  return out;
}
