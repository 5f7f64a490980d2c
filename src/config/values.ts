/** Parsers for single flag values; each throws a ConfigError naming the flag and the reason. */
import { Rat } from "../math/rat.js";
import { ConfigError } from "./errors.js";

/** Go's time.ParseDuration for the units operators use (ns…h, combined like 1m30s). */
export function parseDuration(text: string, flag: string): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * unitMs[m[2]!]!;
    matched = re.lastIndex;
  }
  if (text === "0") return 0;
  if (matched !== text.length || text === "") throw new ConfigError(`-${flag}: invalid duration ${JSON.stringify(text)} (e.g. 30s, 25m)`);
  return total;
}

export function parseWei(text: string, flag: string): bigint {
  if (!/^\d{1,78}$/.test(text.trim())) throw new ConfigError(`-${flag} must be a whole number of wei, got ${JSON.stringify(text)}`);
  return BigInt(text.trim());
}

export function parseCount(text: string, flag: string): number {
  if (!/^\d{1,9}$/.test(text.trim())) throw new ConfigError(`-${flag} must be a whole number, got ${JSON.stringify(text)}`);
  return Number(text.trim());
}

/** A whole number ≥ 1. */
export function parsePositiveCount(text: string, flag: string): number {
  const n = parseCount(text, flag);
  if (n < 1) throw new ConfigError(`-${flag} must be at least 1, got ${JSON.stringify(text)}`);
  return n;
}

/** Host names (no scheme, port or path), lower-cased; an IPv6 address in brackets. */
export function parseHostList(text: string, flag: string): string[] {
  const hosts = text.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const host of hosts) {
    if (!/^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*)$/.test(host)) {
      throw new ConfigError(`-${flag}: not a host name (no scheme, port or path): ${JSON.stringify(host)}`);
    }
  }
  return hosts;
}

/** A rational ≥ 0 as Go's big.Rat.SetString reads it ("3000000000000", "1.5e12", "3/2"); bounded in size. */
export function parseNonNegativeRat(text: string, flag: string): Rat {
  const rat = text.length <= 100 ? Rat.parse(text) : undefined;
  if (!rat) throw new ConfigError(`-${flag} must be a rational number (e.g. 3000000000000, 1.5e12, 3/2), got ${JSON.stringify(text)}`);
  if (rat.sign() < 0) throw new ConfigError(`-${flag} must not be negative, got ${JSON.stringify(text)}`);
  return rat;
}

/** 'k:v,k2:v2' → {k: v, k2: v2}, as the reference parses header flags. */
export function parseHeaderList(text: string, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (text.trim() === "") return out;
  for (const pair of text.split(",")) {
    const i = pair.indexOf(":");
    if (i <= 0) throw new ConfigError(`-${flag}: expected 'name:value' pairs, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return out;
}

/**
 * go-livepeer's defaultAddr: an empty value is the default host and port, ":port" gets the
 * default host (so ":8935" is a loopback bind, not all interfaces), a bare host gets the default port.
 */
export function defaultAddr(addr: string, defaultHost: string, defaultPort: string): string {
  if (addr === "") return `${defaultHost}:${defaultPort}`;
  if (addr.startsWith(":")) return defaultHost + addr;
  if (!addr.includes(":")) return `${addr}:${defaultPort}`;
  return addr;
}

/** host:port → parts ("[::1]:8935" for IPv6). */
export function parseListenAddr(text: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!m) throw new ConfigError(`-${flag}: expected host:port, got ${JSON.stringify(text)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new ConfigError(`-${flag}: port out of range`);
  return { host: m[1] ?? m[2] ?? "", port };
}

/** The same loopback judgment the server's Host check uses. */
export { isLoopbackHost } from "../server/cors.js";

/** A comma-separated list of Ethereum addresses → lowercase 0x-hex (as the reference lowercases -orchBlocklist). */
export function parseAddressList(text: string, flag: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      // No checksum check: the reference only lowercases.
      const m = /^(?:0[xX])?([0-9a-fA-F]{40})$/.exec(s);
      if (!m) throw new ConfigError(`-${flag}: not an Ethereum address: ${JSON.stringify(s)}`);
      return `0x${m[1]!.toLowerCase()}`;
    });
}

/** -corsOrigins: "*" or serialized origins (scheme://host[:port]); never "null", which sandboxed pages and files share. */
export function parseCorsOrigins(text: string, flag: string): string[] {
  const origins = text.split(",").map((s) => s.trim()).filter(Boolean);
  for (const origin of origins) {
    if (origin === "*") continue;
    if (origin.toLowerCase() === "null") {
      throw new ConfigError(`-${flag}: "null" is not allowed: it is the origin of every sandboxed page and local file`);
    }
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin || parsed.hostname.includes("*")) {
      throw new ConfigError(`-${flag}: ${JSON.stringify(origin)} is not an origin like https://app.example or http://localhost:3000`);
    }
  }
  return origins;
}

export function parseHttpUrl(text: string, flag: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`-${flag} must be an http(s) URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError(`-${flag} must be an http(s) URL, got a ${url.protocol} URL`);
  return url;
}
