import type { JsonObject } from "@bufbuild/protobuf";
import { Rat } from "../math/rat.js";
import {
  getField,
  goJsonString,
  type JsonValue,
  parseGoJson,
  readInteger,
  readNumberText,
  readObject,
  readString,
  JsonTypeError,
} from "../go/json.js";

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

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** The reference's runner metadata bound (ai/runner maxMetadataBytes). */
const MAX_METADATA_BYTES = 1024;

function readArray(v: JsonValue | undefined, field: string): JsonValue[] | undefined {
  if (v === undefined || v.kind === "null") return undefined;
  if (v.kind !== "array") throw new JsonTypeError(field, "array", v.kind);
  return v.items;
}

const str = (v: JsonValue | undefined, field: string) => readString(v, field) ?? "";
const int = (v: JsonValue | undefined, field: string) => readInteger(v, field, INT64_MIN, INT64_MAX) ?? 0n;

function decodeRunner(v: JsonValue): LiveRunner {
  const o = readObject(v, "runners");
  const runner: LiveRunner = {
    url: "",
    app: "",
    version: "",
    metadata: "",
    mode: "",
    capacity: 0n,
    capacityUsed: 0n,
    capacityAvailable: 0n,
  };
  if (!o) return runner;
  runner.url = str(getField(o, "url"), "url");
  const gpu = readObject(getField(o, "gpu"), "gpu");
  if (gpu) {
    runner.gpu = {
      id: str(getField(gpu, "id"), "gpu.id"),
      name: str(getField(gpu, "name"), "gpu.name"),
      vramMb: int(getField(gpu, "vram_mb"), "gpu.vram_mb"),
    };
  }
  runner.app = str(getField(o, "app"), "app");
  runner.version = str(getField(o, "version"), "version");
  runner.metadata = str(getField(o, "metadata"), "metadata");
  runner.mode = str(getField(o, "mode"), "mode");
  runner.capacity = int(getField(o, "capacity"), "capacity");
  runner.capacityUsed = int(getField(o, "capacity_used"), "capacity_used");
  runner.capacityAvailable = int(getField(o, "capacity_available"), "capacity_available");
  const price = readObject(getField(o, "price_info"), "price_info");
  if (price) {
    runner.priceInfo = {
      price: readNumberText(getField(price, "price"), "price_info.price") ?? "",
      currency: str(getField(price, "currency"), "price_info.currency"),
      unit: str(getField(price, "unit"), "price_info.unit"),
    };
  }
  return runner;
}

/**
 * Decodes a `/discovery` reply the way the reference does (server/remote_discovery.go
 * remoteDiscoveryEntries): a JSON array of {address, runners}; any syntax or type error drops
 * the whole reply (undefined).
 */
export function parseRunnerDiscovery(body: string): RunnerDiscoveryEntry[] | undefined {
  try {
    JSON.parse(body); // the reference checks json.Valid on the whole body first
    const root = parseGoJson(body);
    const items = readArray(root, "discovery") ?? [];
    return items.map((item) => {
      const o = readObject(item, "discovery");
      if (!o) return { address: "", runners: [] };
      return {
        address: str(getField(o, "address"), "address"),
        runners: (readArray(getField(o, "runners"), "runners") ?? []).map(decodeRunner),
      };
    });
  } catch {
    return undefined;
  }
}

/** The runner's price in wei per unit when it is a positive number, else undefined. */
function runnerPrice(runner: LiveRunner): Rat | undefined {
  if (!runner.priceInfo) return undefined;
  const price = Rat.parse(runner.priceInfo.price.trim());
  return price && price.sign() > 0 ? price : undefined;
}

/**
 * Why the reference's remote discovery filters a runner out (validateRunner), or undefined when
 * it is kept. `maxPrice` is the global ceiling (-maxPricePerUnit / -pixelsPerUnit).
 */
export function runnerRejection(runner: LiveRunner, maxPrice: Rat | undefined): string | undefined {
  if (runner.url === "") return "missing URL";
  if (runner.app.trim() === "") return "missing app";
  if (Buffer.byteLength(runner.metadata, "utf8") > MAX_METADATA_BYTES) {
    return `metadata must be at most ${MAX_METADATA_BYTES} bytes`;
  }
  if (runner.metadata.includes("\uFFFD")) return "metadata must not contain Unicode replacement character U+FFFD";
  const price = runnerPrice(runner);
  if (!price || !runner.priceInfo) return "invalid price";
  if (runner.priceInfo.currency.trim().toLowerCase() !== "wei") return "unsupported currency";
  const unit = runner.priceInfo.unit.trim().toLowerCase();
  if (unit !== "seconds" && unit !== "720p-pixel-seconds" && unit !== "fixed") return "unsupported unit";
  if (maxPrice && price.cmp(maxPrice) > 0) return "above global max price";
  return undefined;
}

/** True when two runners differ only in capacity usage (the reference's sameRemoteDiscoveryRunner). */
export function sameRunner(a: LiveRunner, b: LiveRunner): boolean {
  return encodeRunnerJson({ ...a, capacityUsed: 0n, capacityAvailable: 0n }) ===
    encodeRunnerJson({ ...b, capacityUsed: 0n, capacityAvailable: 0n });
}

/** The runner as Go's encoding/json writes runner.LiveRunnerDiscoveryRunner (field order, omitempty). */
export function encodeRunnerJson(r: LiveRunner): string {
  const parts: string[] = [`"url":${goJsonString(r.url)}`];
  if (r.gpu) {
    const gpu: string[] = [];
    if (r.gpu.id !== "") gpu.push(`"id":${goJsonString(r.gpu.id)}`);
    if (r.gpu.name !== "") gpu.push(`"name":${goJsonString(r.gpu.name)}`);
    if (r.gpu.vramMb !== 0n) gpu.push(`"vram_mb":${r.gpu.vramMb}`);
    parts.push(`"gpu":{${gpu.join(",")}}`);
  }
  parts.push(`"app":${goJsonString(r.app)}`);
  if (r.version !== "") parts.push(`"version":${goJsonString(r.version)}`);
  if (r.metadata !== "") parts.push(`"metadata":${goJsonString(r.metadata)}`);
  if (r.mode !== "") parts.push(`"mode":${goJsonString(r.mode)}`);
  parts.push(`"capacity":${r.capacity}`, `"capacity_used":${r.capacityUsed}`, `"capacity_available":${r.capacityAvailable}`);
  if (r.priceInfo) {
    // json.Number is written as its literal; an empty one is written as 0.
    const price: string[] = [`"price":${r.priceInfo.price === "" ? "0" : r.priceInfo.price}`];
    if (r.priceInfo.currency !== "") price.push(`"currency":${goJsonString(r.priceInfo.currency)}`);
    if (r.priceInfo.unit !== "") price.push(`"unit":${goJsonString(r.priceInfo.unit)}`);
    parts.push(`"price_info":{${price.join(",")}}`);
  }
  return `{${parts.join(",")}}`;
}

/** The runner as a plain JSON object (for google.protobuf.Struct); numbers become doubles. */
export function runnerToJsonObject(r: LiveRunner): JsonObject {
  return JSON.parse(encodeRunnerJson(r)) as JsonObject;
}
