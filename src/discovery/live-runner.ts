import type { JsonObject } from "@bufbuild/protobuf";
import { goJsonString } from "../go/json.js";
import { goTrimSpace } from "../go/trim-space.js";
import { DecimalSizeError, Rat } from "../math/rat.js";
import type { LiveRunner } from "../wire/discovery-json.js";

// The reply is read in wire/; its users import it from here with the runner rules.
export { parseRunnerDiscovery, type LiveRunner, type RunnerDiscoveryEntry } from "../wire/discovery-json.js";

/** The reference's runner metadata bound (ai/runner maxMetadataBytes). */
const MAX_METADATA_BYTES = 1024;

/** The runner's price in wei per unit when it is a positive number, else undefined. */
function runnerPrice(runner: LiveRunner): Rat | undefined {
  if (!runner.priceInfo) return undefined;
  let price: Rat | undefined;
  try {
    price = Rat.parseBounded(goTrimSpace(runner.priceInfo.price));
  } catch (err) {
    if (err instanceof DecimalSizeError) return undefined; // oversize: an invalid price
    throw err;
  }
  return price && price.sign() > 0 ? price : undefined;
}

/**
 * Why the reference's remote discovery filters a runner out (validateRunner), or undefined when
 * it is kept. `maxPrice` is the global ceiling (-maxPricePerUnit / -pixelsPerUnit).
 */
export function runnerRejection(runner: LiveRunner, maxPrice: Rat | undefined): string | undefined {
  if (runner.url === "") return "missing URL";
  if (goTrimSpace(runner.app) === "") return "missing app";
  if (Buffer.byteLength(runner.metadata, "utf8") > MAX_METADATA_BYTES) {
    return `metadata must be at most ${MAX_METADATA_BYTES} bytes`;
  }
  if (runner.metadata.includes("\uFFFD")) return "metadata must not contain Unicode replacement character U+FFFD";
  const price = runnerPrice(runner);
  if (!price || !runner.priceInfo) return "invalid price";
  if (goTrimSpace(runner.priceInfo.currency).toLowerCase() !== "wei") return "unsupported currency";
  const unit = goTrimSpace(runner.priceInfo.unit).toLowerCase();
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
