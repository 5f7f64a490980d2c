import { toHex } from "../crypto/bytes.js";
import { DiscoveryConfigError } from "./sources.js";

/**
 * -orchBlocklist as a set of lowercase 40-digit hex addresses (no "0x"). Entries may carry "0x"
 * and any case (the reference lowercases the flag and trims "0x"); empty entries are ignored;
 * anything that is not a 20-byte hex address is refused rather than silently never matching.
 */
export function normalizeBlocklist(entries: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    const hex = entry.startsWith("0x") ? entry.slice(2) : entry;
    if (!/^[0-9a-f]{40}$/.test(hex)) {
      throw new DiscoveryConfigError(`-orchBlocklist: ${JSON.stringify(raw)} is not a 20-byte hex Ethereum address`);
    }
    out.add(hex);
  }
  return out;
}

/**
 * True when the orchestrator's OrchestratorInfo.address is blocklisted: the reference compares
 * that address (not the URL it was polled at, nor its ticket recipient) once GetOrchestrator has
 * answered (discovery/discovery.go isBlacklisted).
 */
export function isBlocklisted(blocklist: ReadonlySet<string>, address: Uint8Array): boolean {
  return blocklist.size > 0 && address.length > 0 && blocklist.has(toHex(address));
}
