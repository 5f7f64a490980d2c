/** Discovery as the two transports need it: the legacy JSON endpoint and the typed RPC. */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Discovery } from "./discovery.js";
import { toDiscoveredOrchestrator } from "./discovered-orchestrator.js";
import { toLegacyDiscoveryJson } from "./legacy-json.js";

/** What the transports read: a live Discovery, or a -workers worker's copy of the primary's snapshot. */
export type DiscoveryView = Pick<Discovery, "snapshot" | "select" | "subscribe">;

/** GET /discover-orchestrators: the reference's JSON array, 503 "cache empty" before the first snapshot. */
export function legacyDiscover(discovery: DiscoveryView) {
  return (caps: string[]) =>
    discovery.snapshot().orchestrators.length === 0
      ? ({ status: 503, message: "cache empty" } as const)
      : ({ status: 200, body: toLegacyDiscoveryJson(discovery.select(caps)) } as const);
}

/** DiscoverOrchestrators: undefined before the first snapshot. */
export function typedDiscovery(discovery: DiscoveryView) {
  return {
    select(caps: string[]) {
      const snapshot = discovery.snapshot();
      if (snapshot.orchestrators.length === 0) return undefined;
      return {
        orchestrators: discovery.select(caps).map(toDiscoveredOrchestrator),
        snapshotTime: timestampFromMs(snapshot.builtAt),
      };
    },
    subscribe: (listener: () => void) => discovery.subscribe(() => listener()),
  };
}
