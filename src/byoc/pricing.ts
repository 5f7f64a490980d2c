/**
 * BYOC payment pricing as the branch feat/byoc-per-cap-pricing-and-usage-labels (ae1a0ea7a) does
 * it in GenerateLivePayment: the capability a payment is for, its per-capability price in the
 * orchestrator's capabilities_prices, and the usage labels (pipeline, model_id) it resolves.
 */
import { create } from "@bufbuild/protobuf";
import { PriceInfoSchema, type Capabilities, type OrchestratorInfo, type PriceInfo } from "../../gen/net/lp_rpc_pb.js";
import { goTrimSpace } from "../go/trim-space.js";
import { capabilityPipeline, CAPABILITY_LIVE_VIDEO_TO_VIDEO } from "../pricing/capabilities.js";
import type { JobType } from "../pricing/job-type.js";

/** go-livepeer's Capability_BYOC: external capabilities' prices carry it, with the name as constraint. */
export const CAPABILITY_BYOC = 37;
/** Bound on a gateway-supplied label, in code points. */
const MAX_USAGE_LABEL = 128;

/** Trimmed (Go's TrimSpace) and cut to 128 code points. */
export function sanitizeUsageLabel(s: string): string {
  const t = goTrimSpace(s);
  const points = [...t];
  return points.length > MAX_USAGE_LABEL ? points.slice(0, MAX_USAGE_LABEL).join("") : t;
}

/** Go's sort.Strings order: by UTF-8 bytes. */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

/** The first (in byte order) non-empty model constrained for `capability`; "" when none. */
export function modelIdForCapability(caps: Capabilities | undefined, capability: number): string {
  const models = caps?.constraints?.PerCapability[capability]?.models;
  if (!models) return "";
  const ids = Object.keys(models).filter((m) => m !== "");
  return ids.length === 0 ? "" : ids.sort(byBytes)[0]!;
}

/** What the reference prices: the request's capability, else the BYOC model in its capabilities. */
export function byocCapabilityName(capability: string, caps: Capabilities | undefined): string {
  return sanitizeUsageLabel(capability) || modelIdForCapability(caps, CAPABILITY_BYOC);
}

/** Whose payments may take the per-capability price: byoc, and lv2v (the SDK's BYOC payments). */
export function isByocBillingType(type: JobType): boolean {
  return type === "byoc" || type === "lv2v";
}

/** One PriceInfo per advertised entry (the info is shared between calls), with only the rate set. */
const ratesOf = new WeakMap<object, PriceInfo>();

/**
 * The first BYOC entry of capabilities_prices whose constraint is `name` and whose rate is
 * positive (a bad duplicate is skipped, not fatal); undefined when none, so the base price holds.
 */
export function resolveByocPrice(name: string, info: OrchestratorInfo): PriceInfo | undefined {
  if (name === "") return undefined;
  for (const p of info.capabilitiesPrices) {
    if (p.capability !== CAPABILITY_BYOC || p.constraint !== name) continue;
    if (p.pricePerUnit <= 0n || p.pixelsPerUnit <= 0n) continue;
    let rate = ratesOf.get(p);
    if (!rate) ratesOf.set(p, (rate = create(PriceInfoSchema, { pricePerUnit: p.pricePerUnit, pixelsPerUnit: p.pixelsPerUnit })));
    return rate;
  }
  return undefined;
}

/**
 * The branch's gate, in its order: the flag, a capability name (sanitized) and a BYOC billing
 * type; the lookup then uses the request's capability as sent when there is one (untrimmed, as
 * the reference does), else the name from the capabilities. undefined: the base price holds.
 */
export function perCapabilityPrice(opts: {
  perCapPricing: boolean;
  type: JobType;
  capability: string;
  caps: Capabilities | undefined;
  info: OrchestratorInfo;
}): PriceInfo | undefined {
  const name = byocCapabilityName(opts.capability, opts.caps);
  if (!opts.perCapPricing || name === "" || !isByocBillingType(opts.type)) return undefined;
  return resolveByocPrice(opts.capability !== "" ? opts.capability : name, opts.info);
}

/** The first pipeline (by name) whose capability has a constrained model, and that model. */
function constrainedPipelineModelId(caps: Capabilities | undefined): { pipeline: string; modelId: string } {
  let best: { pipeline: string; modelId: string } | undefined;
  for (const id of Object.keys(caps?.constraints?.PerCapability ?? {})) {
    const modelId = modelIdForCapability(caps, Number(id));
    const pipeline = modelId === "" ? undefined : capabilityPipeline(Number(id));
    if (!pipeline) continue;
    if (!best || pipeline < best.pipeline) best = { pipeline, modelId };
  }
  return best ?? { pipeline: "", modelId: "" };
}

/**
 * The usage labels the branch gives a payment: the constrained pipeline and model, else the job
 * type's defaults; a gateway-supplied capability or model_id (sanitized) overrides either.
 */
export function resolveUsageLabels(opts: { type: string; capability: string; modelId: string; caps: Capabilities | undefined }): {
  pipeline: string;
  modelId: string;
} {
  let { pipeline, modelId } = constrainedPipelineModelId(opts.caps);
  if (pipeline === "") {
    if (opts.type === "lv2v") {
      pipeline = "live-video-to-video";
      if (opts.caps) modelId = modelIdForCapability(opts.caps, CAPABILITY_LIVE_VIDEO_TO_VIDEO);
    } else if (opts.type === "live" || opts.type === "fixed") {
      pipeline = opts.type;
    } else if (opts.type === "byoc" && opts.caps) {
      const m = modelIdForCapability(opts.caps, CAPABILITY_BYOC);
      if (m !== "") {
        pipeline = "byoc";
        modelId = m;
      }
    }
  }
  const c = sanitizeUsageLabel(opts.capability);
  if (c !== "") pipeline = c;
  const m = sanitizeUsageLabel(opts.modelId);
  if (m !== "") modelId = m;
  return { pipeline, modelId };
}
