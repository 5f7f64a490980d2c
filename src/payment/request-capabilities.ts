import type { Capabilities } from "../../gen/net/lp_rpc_pb.js";
import { invalidArgument, type PaymentError } from "./errors.js";

/**
 * The request's capabilities as the transport decoded them: the value, or the decode (or
 * bounds) error, kept so the domain raises it at the reference's step (5) and not before
 * the state and manifest checks.
 */
export type DecodedCapabilities = { ok: true; value: Capabilities | undefined } | { ok: false; error: PaymentError };

/**
 * Bounds on what the signer copies into signed segment credentials. The reference has none: a
 * bitstring of all ones expands to one capacity entry per set bit (750 KB in, 56 MB out).
 * go-livepeer defines under 64 capabilities; these leave ample room.
 */
export const CAPABILITY_BOUNDS = {
  /** bitstring and mandatories words: 1024 capability ids */
  words: 16,
  capacities: 1024,
  perCapability: 1024,
  modelsPerCapability: 64,
  models: 256,
  /** version, minVersion, model ids, runnerVersion */
  stringLength: 256,
};

/** Checks decoded capabilities against CAPABILITY_BOUNDS; the error names the field. */
export function boundCapabilities(caps: Capabilities | undefined): DecodedCapabilities {
  const error = caps && capabilitiesOutOfBounds(caps);
  return error ? { ok: false, error: invalidArgument(error) } : { ok: true, value: caps };
}

function capabilitiesOutOfBounds(caps: Capabilities): string | undefined {
  const b = CAPABILITY_BOUNDS;
  const tooMany = (field: string, n: number, max: number) => (n > max ? `capabilities.${field}: ${n} entries, at most ${max}` : undefined);
  const tooLong = (field: string, s: string) =>
    s.length > b.stringLength ? `capabilities.${field}: longer than ${b.stringLength} characters` : undefined;
  const perCapability = Object.entries(caps.constraints?.PerCapability ?? {});
  let first =
    tooMany("bitstring", caps.bitstring.length, b.words) ??
    tooMany("mandatories", caps.mandatories.length, b.words) ??
    tooMany("capacities", Object.keys(caps.capacities).length, b.capacities) ??
    tooLong("version", caps.version) ??
    tooLong("constraints.minVersion", caps.constraints?.minVersion ?? "") ??
    tooMany("constraints.PerCapability", perCapability.length, b.perCapability);
  let models = 0;
  for (const [id, constraints] of perCapability) {
    if (first) break;
    const entries = Object.entries(constraints.models);
    models += entries.length;
    first =
      tooMany(`constraints.PerCapability[${id}].models`, entries.length, b.modelsPerCapability) ??
      tooMany("constraints.PerCapability models in total", models, b.models);
    for (const [modelId, model] of entries) {
      first ??= tooLong(`constraints.PerCapability[${id}].models key`, modelId);
      first ??= tooLong(`constraints.PerCapability[${id}].models[${JSON.stringify(modelId.slice(0, 64))}].runnerVersion`, model.runnerVersion);
    }
  }
  return first;
}
