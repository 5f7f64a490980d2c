import { ConfigError } from "../config/errors.js";
import type { ChainView } from "../chain/chain-view.js";
import { readWebhookReplyJson } from "../wire/discovery-json.js";
import { isRequestUri } from "./build-snapshot.js";

/** Where the list of orchestrators to poll comes from. */
export interface OrchestratorSource {
  /** "webhook", "orchAddr" or "chain". */
  readonly kind: string;
  /** The orchestrator addresses to poll this round; throws when none can be had. */
  list(): Promise<string[]>;
}

/** The reference's default orchestrator port (cmd/livepeer/starter OrchestratorRpcPort). */
const DEFAULT_ORCHESTRATOR_PORT = "8935";
/** The reference's timeout for the -orchWebhookUrl request (discovery/wh_discovery.go). */
export const WEBHOOK_TIMEOUT_MS = 3_000;

/**
 * Parses -orchAddr as the reference does (starter parseOrchAddrs): comma-separated; an empty item
 * becomes 127.0.0.1:8935, ":port" gets host 127.0.0.1, an item without ":" gets port 8935, and
 * "https://" is prepended unless the item starts with "http". Items that are not request URIs are
 * dropped.
 */
export function parseOrchAddrs(text: string): string[] {
  if (text === "") return [];
  const out: string[] = [];
  for (let addr of text.split(",")) {
    addr = addr.trim();
    if (addr === "") addr = `127.0.0.1:${DEFAULT_ORCHESTRATOR_PORT}`;
    else if (addr.startsWith(":")) addr = `127.0.0.1${addr}`;
    else if (!addr.includes(":")) addr = `${addr}:${DEFAULT_ORCHESTRATOR_PORT}`;
    if (!addr.startsWith("http")) addr = `https://${addr}`;
    if (isRequestUri(addr)) out.push(addr);
  }
  return out;
}

/** A fixed list of orchestrators (-orchAddr). */
export function createFixedSource(addresses: string[]): OrchestratorSource {
  const list = [...addresses];
  return { kind: "orchAddr", list: async () => [...list] };
}

/**
 * Decodes an -orchWebhookUrl reply (discovery/wh_discovery.go deserializeWebhookJSON): a JSON
 * array of {"address": "<url>", "score": <float>} (read in wire/); entries without an address or
 * whose address is not a request URI are skipped; a type error rejects the whole reply.
 */
export function parseWebhookReply(body: string): string[] {
  return readWebhookReplyJson(body).filter((address) => address !== "" && isRequestUri(address));
}

/** A discovery flag that cannot be used (the reference exits at start). */
export class DiscoveryConfigError extends ConfigError {
  override name = "DiscoveryConfigError";
}

/** The reference's validateURL for -orchWebhookUrl: a request URI with scheme http or https. */
export function validateWebhookUrl(url: string): void {
  let scheme = "";
  try {
    scheme = isRequestUri(url) ? new URL(url).protocol : "";
  } catch {
    scheme = "";
  }
  if (scheme !== "http:" && scheme !== "https:") {
    throw new DiscoveryConfigError(`-orchWebhookUrl must be an http or https URL, got ${JSON.stringify(url)}`);
  }
}

export interface WebhookSourceOptions {
  url: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * The orchestrator webhook (-orchWebhookUrl): GET it each round; when a round fails, the last
 * list it gave is used again, and the error is thrown only when there is none.
 */
export function createWebhookSource({ url, timeoutMs = WEBHOOK_TIMEOUT_MS, fetch: fetchFn = fetch }: WebhookSourceOptions): OrchestratorSource {
  validateWebhookUrl(url);
  let last: string[] | undefined;
  return {
    kind: "webhook",
    async list() {
      try {
        const res = await fetchFn(url, { method: "GET", signal: AbortSignal.timeout(timeoutMs) });
        const body = await res.text();
        if (res.status < 200 || res.status >= 300) throw new Error(`orchestrator webhook returned HTTP status ${res.status}`);
        last = parseWebhookReply(body);
        return [...last];
      } catch (err) {
        if (last) return [...last];
        throw err;
      }
    },
  };
}

/** Orchestrators from the chain: ServiceRegistry service URIs of those active in the current round. */
export function createChainSource(chain: Pick<ChainView, "registeredOrchestrators">): OrchestratorSource {
  return {
    kind: "chain",
    async list() {
      const orchs = await chain.registeredOrchestrators();
      return orchs.map((o) => o.serviceUri).filter((uri) => uri !== "");
    },
  };
}

export interface SelectSourceOptions {
  /** -orchWebhookUrl */
  webhookUrl?: string;
  /** -orchAddr, unparsed */
  orchAddr?: string;
  chain?: Pick<ChainView, "registeredOrchestrators">;
}

/** The reference's precedence: webhook, else a non-empty -orchAddr, else the chain; undefined when none. */
export function selectSource({ webhookUrl, orchAddr, chain }: SelectSourceOptions): OrchestratorSource | undefined {
  if (webhookUrl) return createWebhookSource({ url: webhookUrl });
  const fixed = parseOrchAddrs(orchAddr ?? "");
  if (fixed.length > 0) return createFixedSource(fixed);
  if (chain) return createChainSource(chain);
  return undefined;
}
