import { parseGoJson } from "../go/json.js";
import { goBytes, goBytesRemembered, goInt64, goPointer, goString, goStruct, readGoStruct } from "../go/struct.js";
import { LiveRunnerPriceInfo, toMaxPriceInput, type MaxPriceInput } from "./max-price.js";

/** server.RemotePaymentStateSig: the signed state blob the gateway sends back. */
const RemotePaymentStateSig = goStruct("server.RemotePaymentStateSig", {
  state: ["State", goBytes],
  sig: ["Sig", goBytes],
});

/** server.RemotePaymentRequest, the body of POST /generate-live-payment. */
const RemotePaymentRequest = goStruct("server.RemotePaymentRequest", {
  state: ["state", RemotePaymentStateSig],
  // The same OrchestratorInfo comes with every call of a session (the array is shared: read only).
  // A real one is 1-3 KB of base64: at most 256 texts of up to 16 KiB are held.
  orchestrator: ["orchestrator", goBytesRemembered(256, { maxLength: 16_384 })],
  manifestId: ["ManifestID", goString],
  app: ["app", goString],
  inPixels: ["inPixels", goInt64],
  type: ["type", goString],
  maxPrice: ["maxPrice", goPointer(LiveRunnerPriceInfo)],
  capabilities: ["capabilities", goBytes],
  // The BYOC branch's fields (ae1a0ea7a); master ignores them as unknown.
  capability: ["capability", goString],
  modelId: ["model_id", goString],
});

/** The request's fields with Go's zero values; the protobuf fields are still bytes. */
export interface PaymentRequestJson {
  state: { state: Uint8Array; sig: Uint8Array } | undefined;
  orchestrator: Uint8Array;
  manifestId: string;
  app: string;
  inPixels: bigint;
  type: string;
  maxPrice: MaxPriceInput | undefined;
  capabilities: Uint8Array;
  capability: string;
  modelId: string;
}

/**
 * Reads the body as the reference's json.NewDecoder(r.Body).Decode does (the first value; what
 * follows is ignored). Throws JsonSyntaxError or JsonTypeError with Go's messages.
 */
export function readPaymentRequestJson(body: string): PaymentRequestJson {
  const r = readGoStruct(RemotePaymentRequest, parseGoJson(body)) ?? {};
  const state = r.state?.state ?? new Uint8Array(0);
  const sig = r.state?.sig ?? new Uint8Array(0);
  return {
    // An empty state (no bytes in either field) is a new session.
    state: state.length > 0 || sig.length > 0 ? { state, sig } : undefined,
    orchestrator: r.orchestrator ?? new Uint8Array(0),
    manifestId: r.manifestId ?? "",
    app: r.app ?? "",
    inPixels: r.inPixels ?? 0n,
    type: r.type ?? "",
    maxPrice: toMaxPriceInput(r.maxPrice),
    capabilities: r.capabilities ?? new Uint8Array(0),
    capability: r.capability ?? "",
    modelId: r.modelId ?? "",
  };
}
