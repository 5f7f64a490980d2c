import { goJsonString } from "../go/json.js";
import type { DiscoveryEntry } from "./build-snapshot.js";
import { encodeRunnerJson } from "./live-runner.js";

/**
 * The body of the reference's `GET /discover-orchestrators` (server/remote_signer.go
 * GetOrchestrators / discoveryResponse), byte for byte: a JSON array of
 * {"address","score":1,"capabilities","runners"} with Go's omitempty, written by json.Encoder
 * (so with a trailing newline). Score is the legacy webhook's trusted score, always 1.
 */
export function toLegacyDiscoveryJson(entries: DiscoveryEntry[]): string {
  const items = entries.map((e) => {
    const parts: string[] = [];
    if (e.url !== "") parts.push(`"address":${goJsonString(e.url)}`);
    parts.push(`"score":1`);
    if (e.capabilities.length > 0) parts.push(`"capabilities":[${e.capabilities.map(goJsonString).join(",")}]`);
    if (e.runners.length > 0) parts.push(`"runners":[${e.runners.map(encodeRunnerJson).join(",")}]`);
    return `{${parts.join(",")}}`;
  });
  return `[${items.join(",")}]\n`;
}
