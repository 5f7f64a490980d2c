import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { PriceInfoSchema } from "../../gen/net/lp_rpc_pb.js";
import {
  type DiscoveredOrchestrator,
  DiscoveredCapabilitySchema,
  DiscoveredOrchestratorSchema,
} from "../../gen/livepeer/signer/v1/signer_pb.js";
import type { DiscoveryEntry } from "./build-snapshot.js";
import { runnerToJsonObject } from "./live-runner.js";

/**
 * One snapshot entry as the typed RPC message. Capabilities known only from runner apps carry
 * no orchestrator price (0/0).
 */
export function toDiscoveredOrchestrator(entry: DiscoveryEntry): DiscoveredOrchestrator {
  const prices = new Map(entry.capabilityPrices.map((c) => [c.key, c]));
  return create(DiscoveredOrchestratorSchema, {
    url: entry.url,
    ethAddress: entry.ethAddress,
    capabilities: entry.capabilities.map((key) => {
      const price = prices.get(key);
      const slash = key.indexOf("/");
      return create(DiscoveredCapabilitySchema, {
        key,
        pipeline: price?.pipeline ?? (slash < 0 ? key : key.slice(0, slash)),
        modelId: price?.modelId ?? (slash < 0 ? "" : key.slice(slash + 1)),
        pricePerUnit: price?.pricePerUnit ?? 0n,
        pixelsPerUnit: price?.pixelsPerUnit ?? 0n,
      });
    }),
    runners: entry.runners.map(runnerToJsonObject),
    lastSeen: timestampFromMs(entry.lastSeen),
    ...(entry.priceInfo ? { priceInfo: create(PriceInfoSchema, entry.priceInfo) } : {}),
    ...(entry.runnersSeen !== undefined ? { runnersLastSeen: timestampFromMs(entry.runnersSeen) } : {}),
  });
}
