import { goJsonString } from "../go/json.js";
import { formatGoTime } from "../go/time.js";
import type { DiscoveryEntry } from "./build-snapshot.js";
import { encodeRunnerJson } from "./live-runner.js";

/**
 * The body of the reference's `GET /discover-orchestrators` (server/remote_signer.go
 * GetOrchestrators / discoveryResponse), byte for byte: a JSON array of
 * {"address","score":1,"capabilities","runners"} with Go's omitempty, written by json.Encoder
 * (so with a trailing newline). Score is the legacy webhook's trusted score, always 1.
 * `last_seen` (go-livepeer #4090, open) is when the runner data came from the orchestrator's
 * `/discovery`, as Go writes a time.Time (RFC 3339, UTC here); left out when none ever did.
 */
export function toLegacyDiscoveryJson(entries: DiscoveryEntry[]): string {
  const items = entries.map((e) => {
    const parts: string[] = [];
    if (e.url !== "") parts.push(`"address":${goJsonString(e.url)}`);
    parts.push(`"score":1`);
    if (e.capabilities.length > 0) parts.push(`"capabilities":[${e.capabilities.map(goJsonString).join(",")}]`);
    if (e.runners.length > 0) parts.push(`"runners":[${e.runners.map(encodeRunnerJson).join(",")}]`);
    if (e.runnersSeen !== undefined) parts.push(`"last_seen":"${formatGoTime(BigInt(Math.round(e.runnersSeen)) * 1_000_000n)}"`);
    return `{${parts.join(",")}}`;
  });
  return `[${items.join(",")}]\n`;
}
