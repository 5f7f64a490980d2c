import { create, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import {
  AuthTokenSchema,
  Capabilities_CapabilityConstraints_ModelConstraintSchema,
  Capabilities_CapabilityConstraintsSchema,
  Capabilities_ConstraintsSchema,
  CapabilitiesSchema,
  SegDataSchema,
  type AuthToken,
  type Capabilities,
  type SegData,
} from "../../gen/net/lp_rpc_pb.js";
import { concatBytes, keccak256, ownString, pooledCopy, pooledUtf8, utf8 } from "../crypto/bytes.js";
import type { EthSigner } from "../crypto/eth-sign.js";
import type { RemoteEthSigner } from "../crypto/remote-signer.js";
import { dropOldest } from "../ordered-map.js";
import { encodeWith } from "../wire/shared-writer.js";

/** keccak256 of the empty segment the remote signer always describes. */
export const EMPTY_SEGMENT_HASH = keccak256(new Uint8Array(0));

export type CreateSegCredsParameters = {
  manifestId: string;
  capabilities: Capabilities | undefined;
  authToken: AuthToken | undefined;
} & ({ signer: EthSigner } | { /** segmentSignature's result, signed elsewhere (a remote key). */ sig: Uint8Array });

/**
 * The flattened segment metadata the broadcaster signs: manifestID ‖ pad32(seq) ‖ hash ‖
 * profilesHex. For the empty segment seq is 0 and there are no profiles.
 */
export function flattenEmptySegment(manifestId: string): Uint8Array {
  return concatBytes(utf8.encode(manifestId), new Uint8Array(32), EMPTY_SEGMENT_HASH);
}

/**
 * Capabilities after the reference's round trip through its internal form: capacities rebuilt
 * from the bitstring when absent, constraints always present, model capacityInUse dropped.
 */
export function normalizeCapabilities(caps: Capabilities): Capabilities {
  const capacities: Record<number, number> = {};
  if (Object.keys(caps.capacities).length === 0) {
    caps.bitstring.forEach((word, index) => {
      for (let bit = 0; bit < 64; bit++) {
        if ((word >> BigInt(bit)) & 1n) capacities[index * 64 + bit] = 1;
      }
    });
  } else {
    Object.assign(capacities, caps.capacities);
  }
  const perCapability: Record<number, ReturnType<typeof create<typeof Capabilities_CapabilityConstraintsSchema>>> = {};
  for (const [capability, constraints] of Object.entries(caps.constraints?.PerCapability ?? {})) {
    // fromEntries defines own keys, so a model named "__proto__" is kept (assignment would drop it).
    const models = Object.fromEntries(
      Object.entries(constraints.models).map(([modelId, model]) => [
        modelId,
        create(Capabilities_CapabilityConstraints_ModelConstraintSchema, {
          warm: model.warm,
          capacity: model.capacity,
          runnerVersion: model.runnerVersion,
        }),
      ]),
    );
    perCapability[Number(capability)] = create(Capabilities_CapabilityConstraintsSchema, { models });
  }
  return create(CapabilitiesSchema, {
    bitstring: caps.bitstring,
    mandatories: caps.mandatories,
    capacities,
    version: caps.version,
    constraints: create(Capabilities_ConstraintsSchema, {
      minVersion: caps.constraints?.minVersion ?? "",
      PerCapability: perCapability,
    }),
  });
}

/** Segment signatures kept per signer; about 4,096 × (id + 65 bytes), at most ~1.3 MiB. */
export const SEGMENT_SIGNATURES_CAPACITY = 4096;
/** An id unused this long is dropped (a session that ended): live sessions call every few seconds. */
export const SEGMENT_SIGNATURE_MAX_IDLE_MS = 60_000;

interface KeptSignature {
  /** The id, copied (see ownString). */
  id: string;
  sig: Uint8Array;
  usedAt: number;
}
/** Per signer, by manifest id; the map's order is least recently used first. */
const segmentSignatures = new WeakMap<object, Map<string, KeptSignature>>();

/** The signature kept for this signer and id, marked used; undefined when none is. */
function keptSignature(signer: object, manifestId: string, nowMs: number): Uint8Array | undefined {
  const kept = segmentSignatures.get(signer)?.get(manifestId);
  if (!kept) return undefined;
  kept.usedAt = nowMs;
  const byId = segmentSignatures.get(signer)!;
  byId.delete(kept.id);
  byId.set(kept.id, kept);
  return pooledCopy(kept.sig);
}

function keepSignature(signer: object, manifestId: string, sig: Uint8Array, nowMs: number): void {
  if (!manifestId.isWellFormed()) return;
  let byId = segmentSignatures.get(signer);
  if (!byId) segmentSignatures.set(signer, (byId = new Map()));
  const oldest = nowMs - SEGMENT_SIGNATURE_MAX_IDLE_MS;
  dropOldest(byId, (k) => k.usedAt >= oldest, SEGMENT_SIGNATURES_CAPACITY - 1);
  const id = ownString(manifestId);
  byId.set(id, { id, sig: sig.slice(), usedAt: nowMs });
}

/**
 * ethSign(keccak256(flattenEmptySegment(manifestId))). It depends on the manifest id alone and
 * RFC 6979 signing is deterministic, so the signature is kept per signer and id: a session's
 * continuing calls send the same bytes with one ECDSA operation fewer each. Ids unused for a
 * minute leave, and the least recently used when full. An id that is not well-formed UTF-16 is
 * signed each time (see ownString).
 */
export function segmentSignature(signer: EthSigner, manifestId: string, nowMs = performance.now()): Uint8Array {
  const kept = keptSignature(signer, manifestId, nowMs);
  if (kept) return kept;
  const sig = signer.sign(keccak256(flattenEmptySegment(manifestId)));
  keepSignature(signer, manifestId, sig, nowMs);
  return sig;
}

/** segmentSignature with a remote key: kept the same way, so a session pays one round trip for it, on its first call. */
export async function segmentSignatureAsync(signer: RemoteEthSigner, manifestId: string, nowMs = performance.now()): Promise<Uint8Array> {
  const kept = keptSignature(signer, manifestId, nowMs);
  if (kept) return kept;
  const sig = await signer.signAsync(keccak256(flattenEmptySegment(manifestId)));
  keepSignature(signer, manifestId, sig, nowMs);
  return sig;
}

/** Signed credentials for the empty segment, and their encoding. */
export interface SegCreds {
  segCreds: SegData;
  /** toBinary(SegDataSchema, segCreds): the Livepeer-Segment header's bytes. */
  bytes: Uint8Array;
}

const INVALID_PROFILES = utf8.encode("invalid");

/** Signed credentials for the empty segment (the `Livepeer-Segment` header's SegData). */
export function createSegCreds(p: CreateSegCredsParameters): SegCreds {
  const { manifestId, capabilities, authToken } = p;
  const segCreds = create(SegDataSchema, {
    manifestId: pooledUtf8(manifestId),
    hash: EMPTY_SEGMENT_HASH,
    // Deliberately invalid, as the reference sends it, so old orchestrators refuse the profiles.
    profiles: pooledCopy(INVALID_PROFILES),
    sig: "sig" in p ? p.sig : segmentSignature(p.signer, manifestId),
    capabilities: capabilities ? normalizeCapabilities(capabilities) : undefined,
    authToken,
  });
  return { segCreds, bytes: encodeSegCreds(segCreds) };
}

/**
 * toBinary(SegDataSchema, …) for the fields createSegCreds sets, in number order with proto3's
 * defaults left out; the orchestrator's auth token, which a session repeats, is encoded once per
 * frozen (shared) message. A test holds it to toBinary.
 */
function encodeSegCreds(seg: SegData): Uint8Array {
  // Encoded before the writer is lent: toBinary does not use it, but nothing needs to know that.
  const capabilities = seg.capabilities && toBinary(CapabilitiesSchema, seg.capabilities);
  const authToken = seg.authToken && authTokenBytes(seg.authToken);
  return encodeWith((w) => {
    if (seg.manifestId.length > 0) w.tag(1, WireType.LengthDelimited).bytes(seg.manifestId);
    if (seg.hash.length > 0) w.tag(3, WireType.LengthDelimited).bytes(seg.hash);
    if (seg.profiles.length > 0) w.tag(4, WireType.LengthDelimited).bytes(seg.profiles);
    if (seg.sig.length > 0) w.tag(5, WireType.LengthDelimited).bytes(seg.sig);
    if (capabilities) w.tag(7, WireType.LengthDelimited).bytes(capabilities);
    if (authToken) w.tag(8, WireType.LengthDelimited).bytes(authToken);
  });
}

const encodedAuthTokens = new WeakMap<AuthToken, Uint8Array>();

function authTokenBytes(token: AuthToken): Uint8Array {
  let bytes = encodedAuthTokens.get(token);
  if (!bytes) {
    bytes = toBinary(AuthTokenSchema, token);
    // Only a frozen message is sure to read the same next time.
    if (Object.isFrozen(token)) encodedAuthTokens.set(token, bytes);
  }
  return bytes;
}
