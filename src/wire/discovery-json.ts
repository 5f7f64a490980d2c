/**
 * The discovery JSON lpsigner reads: an orchestrator's `GET /discovery` reply (the reference's
 * []remoteDiscoveryEntry of runner.LiveRunnerDiscoveryRunner) and the -orchWebhookUrl reply
 * ([]webhookResponse), both read as json.Unmarshal does.
 */
import { parseGoJson } from "../go/json.js";
import { goFloat32, goInt, goPointer, goSlice, goString, goStruct, readGoStruct, type GoValue } from "../go/struct.js";
import { LiveRunnerPriceInfo } from "./max-price.js";

/**
 * One runner an orchestrator advertises on its `GET /discovery` endpoint (the reference's
 * runner.LiveRunnerDiscoveryRunner). Empty strings stand for fields Go leaves out (omitempty).
 */
export interface LiveRunner {
  url: string;
  gpu?: { id: string; name: string; vramMb: bigint };
  app: string;
  version: string;
  metadata: string;
  mode: string;
  capacity: bigint;
  capacityUsed: bigint;
  capacityAvailable: bigint;
  /** price is the number literal exactly as received (json.Number). */
  priceInfo?: { price: string; currency: string; unit: string };
}

/** One element of an orchestrator's `/discovery` reply: a node address and its runners. */
export interface RunnerDiscoveryEntry {
  address: string;
  runners: LiveRunner[];
}

const LiveRunnerDiscoveryRunner = goStruct("runner.LiveRunnerDiscoveryRunner", {
  url: ["url", goString],
  gpu: ["gpu", goPointer(goStruct("runner.LiveRunnerGPU", { id: ["id", goString], name: ["name", goString], vramMb: ["vram_mb", goInt] }))],
  app: ["app", goString],
  version: ["version", goString],
  metadata: ["metadata", goString],
  mode: ["mode", goString],
  capacity: ["capacity", goInt],
  capacityUsed: ["capacity_used", goInt],
  capacityAvailable: ["capacity_available", goInt],
  priceInfo: ["price_info", goPointer(LiveRunnerPriceInfo)],
});

const RemoteDiscoveryReply = goSlice(
  goStruct("server.remoteDiscoveryEntry", { address: ["address", goString], runners: ["runners", goSlice(LiveRunnerDiscoveryRunner)] }),
);

function toRunner(r: GoValue<typeof LiveRunnerDiscoveryRunner> | undefined): LiveRunner {
  const runner: LiveRunner = {
    url: r?.url ?? "",
    app: r?.app ?? "",
    version: r?.version ?? "",
    metadata: r?.metadata ?? "",
    mode: r?.mode ?? "",
    capacity: r?.capacity ?? 0n,
    capacityUsed: r?.capacityUsed ?? 0n,
    capacityAvailable: r?.capacityAvailable ?? 0n,
  };
  if (r?.gpu) runner.gpu = { id: r.gpu.id ?? "", name: r.gpu.name ?? "", vramMb: r.gpu.vramMb ?? 0n };
  if (r?.priceInfo) runner.priceInfo = { price: r.priceInfo.price ?? "", currency: r.priceInfo.currency ?? "", unit: r.priceInfo.unit ?? "" };
  return runner;
}

/**
 * Decodes a `/discovery` reply the way the reference does (server/remote_discovery.go
 * remoteDiscoveryEntries): a JSON array of {address, runners}; any syntax or type error drops
 * the whole reply (undefined).
 */
export function parseRunnerDiscovery(body: string): RunnerDiscoveryEntry[] | undefined {
  try {
    const entries = readGoStruct(RemoteDiscoveryReply, parseGoJson(body, "unmarshal")) ?? [];
    return entries.map((e) => ({ address: e?.address ?? "", runners: (e?.runners ?? []).map(toRunner) }));
  } catch {
    return undefined;
  }
}

const WebhookReply = goSlice(goStruct("discovery.webhookResponse", { address: ["address", goString], score: ["score", goFloat32] }));

/**
 * Decodes an -orchWebhookUrl reply (discovery/wh_discovery.go deserializeWebhookJSON): a JSON
 * array of {"address": "<url>", "score": <float>}, as addresses ("" where absent). A syntax or
 * type error rejects the whole reply (throws JsonSyntaxError or JsonTypeError).
 */
export function readWebhookReplyJson(body: string): string[] {
  const items = readGoStruct(WebhookReply, parseGoJson(body, "unmarshal")) ?? [];
  return items.map((item) => item?.address ?? "");
}
