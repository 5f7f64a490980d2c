import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, test } from "vitest";
import {
  AuthTokenSchema,
  Capabilities_CapabilityConstraintsSchema,
  Capabilities_ConstraintsSchema,
  CapabilitiesSchema,
  OrchestratorInfoSchema,
  PaymentSchema,
  SegDataSchema,
  Capabilities_CapabilityConstraints_ModelConstraintSchema,
} from "../../gen/net/lp_rpc_pb.js";
import { fromHex, keccak256, toHex } from "../crypto/bytes.js";
import { createEthSigner, verifySignature, type EthSigner } from "../crypto/eth-sign.js";
import { BATCH, ORCH_INFO_BASE64, SEG_CREDS, TEST_PRIVATE_KEY } from "../../test/fixtures/spec-vectors.js";
import { createSegCreds, flattenEmptySegment, normalizeCapabilities, SEGMENT_SIGNATURE_MAX_IDLE_MS, SEGMENT_SIGNATURES_CAPACITY, segmentSignature } from "./seg-creds.js";

const signer = createEthSigner(fromHex(TEST_PRIVATE_KEY));
const authToken = create(AuthTokenSchema, {
  token: fromHex(SEG_CREDS.authToken.token),
  sessionId: SEG_CREDS.authToken.sessionId,
  expiration: SEG_CREDS.authToken.expiration,
});

describe("segment credentials", () => {
  test("match the spec's empty-segment vector byte for byte", () => {
    expect("0x" + toHex(flattenEmptySegment(SEG_CREDS.manifestId))).toBe(SEG_CREDS.flatten);
    expect("0x" + toHex(keccak256(flattenEmptySegment(SEG_CREDS.manifestId)))).toBe(SEG_CREDS.flattenHash);
    const { segCreds: seg, bytes } = createSegCreds({ manifestId: SEG_CREDS.manifestId, capabilities: undefined, authToken, signer });
    expect("0x" + toHex(seg.sig)).toBe(SEG_CREDS.sig);
    expect(Buffer.from(toBinary(SegDataSchema, seg)).toString("base64")).toBe(SEG_CREDS.segDataBase64);
    expect(Buffer.from(bytes).toString("base64")).toBe(SEG_CREDS.segDataBase64);
    expect(verifySignature(signer.address, fromHex(SEG_CREDS.flattenHash), seg.sig)).toBe(true);
  });

  test("capabilities go through the reference's normalization", () => {
    const caps = create(CapabilitiesSchema, {
      bitstring: [(1n << 35n) | 1n],
      version: "0.9.0",
      constraints: create(Capabilities_ConstraintsSchema, {
        PerCapability: { 35: create(Capabilities_CapabilityConstraintsSchema, { models: { "sd-turbo": { warm: true, capacity: 2, capacityInUse: 1 } } }) },
      }),
    });
    const n = normalizeCapabilities(caps);
    expect(n.capacities).toEqual({ 0: 1, 35: 1 });
    expect(n.constraints?.PerCapability[35]?.models["sd-turbo"]).toMatchObject({ warm: true, capacity: 2, capacityInUse: 0 });
    const empty = normalizeCapabilities(create(CapabilitiesSchema, {}));
    expect(empty.constraints).toBeDefined();
    const seg = fromBinary(SegDataSchema, toBinary(SegDataSchema, createSegCreds({ manifestId: "m", capabilities: caps, authToken, signer }).segCreds));
    expect(seg.capabilities?.version).toBe("0.9.0");
    expect(seg.capabilities?.capacities).toEqual({ 0: 1, 35: 1 });
  });
});

/** A real signer that counts its signatures. */
function countingSigner(): EthSigner & { count: number } {
  const inner = createEthSigner(fromHex(TEST_PRIVATE_KEY));
  const counting = { ...inner, count: 0, sign: (m: Uint8Array) => (counting.count++, inner.sign(m)) };
  return counting;
}

test("the segment credentials' bytes are toBinary's", () => {
  const frozenToken = Object.freeze(fromBinary(AuthTokenSchema, Uint8Array.from([0x0a, 0x02, 0x01, 0x02, 0x12, 0x01, 0x73, 0x18, 0x05, 0x58, 0x01])));
  expect(frozenToken.$unknown?.length).toBe(1);
  const caps = create(CapabilitiesSchema, { bitstring: [5n], version: "1.0" });
  const cases = [
    { manifestId: "", capabilities: undefined, authToken: undefined },
    { manifestId: "stream-ü-0123456789", capabilities: caps, authToken },
    { manifestId: "m", capabilities: create(CapabilitiesSchema, {}), authToken: frozenToken },
    // Again: the frozen token's encoding is reused.
    { manifestId: "m", capabilities: undefined, authToken: frozenToken },
    { manifestId: "m", capabilities: undefined, authToken: create(AuthTokenSchema, {}) },
  ];
  for (const c of cases) {
    const { segCreds, bytes } = createSegCreds({ ...c, signer });
    expect(toHex(bytes), c.manifestId).toBe(toHex(toBinary(SegDataSchema, segCreds)));
  }
});

describe("segment signatures are kept per signer and manifest id", () => {
  const direct = (id: string) => toHex(signer.sign(keccak256(flattenEmptySegment(id))));

  test("a repeated id gets the same bytes without signing again", () => {
    const s = countingSigner();
    const first = segmentSignature(s, "stream-0123456789abcdef");
    expect(toHex(first)).toBe(direct("stream-0123456789abcdef"));
    first.fill(0); // a caller's change to its copy reaches no later call
    const again = segmentSignature(s, "stream-0123456789abcdef");
    expect(toHex(again)).toBe(direct("stream-0123456789abcdef"));
    expect(s.count).toBe(1);
    expect(toHex(segmentSignature(s, "stream-0123456789abcdeF"))).toBe(direct("stream-0123456789abcdeF"));
    expect(s.count).toBe(2);
    // Another signer (another key object) keeps its own.
    const other = countingSigner();
    segmentSignature(other, "stream-0123456789abcdef");
    expect(other.count).toBe(1);
  });

  test("an id that is not well-formed UTF-16 is signed each time", () => {
    const s = countingSigner();
    const lone = "id-\ud800-0123456789";
    // U+FFFD is what UTF-8 makes of the lone surrogate: the same signed bytes, a different key.
    const replaced = "id-\ufffd-0123456789";
    expect(toHex(segmentSignature(s, lone))).toBe(direct(lone));
    expect(toHex(segmentSignature(s, lone))).toBe(direct(lone));
    expect(s.count).toBe(2);
    segmentSignature(s, replaced);
    expect(s.count).toBe(3);
  });

  test("at most SEGMENT_SIGNATURES_CAPACITY ids, the least recently used leaving first", () => {
    let count = 0;
    const cheap: EthSigner = { ...signer, sign: (m) => (count++, keccak256(m)) };
    for (let i = 0; i < SEGMENT_SIGNATURES_CAPACITY; i++) segmentSignature(cheap, `m${i}`, 0);
    segmentSignature(cheap, "m0", 0); // used again: now the most recent
    segmentSignature(cheap, `m${SEGMENT_SIGNATURES_CAPACITY}`, 0); // full: m1 leaves
    expect(count).toBe(SEGMENT_SIGNATURES_CAPACITY + 1);
    segmentSignature(cheap, "m0", 0);
    segmentSignature(cheap, "m2", 0);
    expect(count).toBe(SEGMENT_SIGNATURES_CAPACITY + 1);
    segmentSignature(cheap, "m1", 0);
    expect(count).toBe(SEGMENT_SIGNATURES_CAPACITY + 2);
  });

  test("an id unused for SEGMENT_SIGNATURE_MAX_IDLE_MS is dropped when another is added", () => {
    let count = 0;
    const cheap: EthSigner = { ...signer, sign: (m) => (count++, keccak256(m)) };
    segmentSignature(cheap, "ended", 0);
    segmentSignature(cheap, "live", 0);
    segmentSignature(cheap, "live", SEGMENT_SIGNATURE_MAX_IDLE_MS); // kept fresh by use
    segmentSignature(cheap, "new", SEGMENT_SIGNATURE_MAX_IDLE_MS + 1);
    expect(count).toBe(3);
    segmentSignature(cheap, "live", SEGMENT_SIGNATURE_MAX_IDLE_MS + 2);
    expect(count).toBe(3);
    segmentSignature(cheap, "ended", SEGMENT_SIGNATURE_MAX_IDLE_MS + 3);
    expect(count).toBe(4);
  });
});

describe("protobuf round trips through the generated code", () => {
  test("OrchestratorInfo from the spec decodes and re-encodes identically", () => {
    const bytes = Buffer.from(ORCH_INFO_BASE64, "base64");
    const info = fromBinary(OrchestratorInfoSchema, bytes);
    expect(info.transcoder).toBe("https://orch.example:8935");
    expect(info.priceInfo?.pricePerUnit).toBe(1200n);
    expect("0x" + toHex(info.ticketParams!.recipientRandHash)).toBe(BATCH.recipientRandHash);
    expect(info.ticketParams?.expirationParams?.creationRound).toBe(4000n);
    expect(Buffer.from(toBinary(OrchestratorInfoSchema, info)).toString("base64")).toBe(ORCH_INFO_BASE64);
  });

  test("unknown fields survive (a newer orchestrator's extra fields are passed on)", () => {
    const base = Buffer.from(ORCH_INFO_BASE64, "base64");
    // field 99, length-delimited "hi"; and inside price_info (re-sent as expected_price) field 15 varint 7
    const extra = Buffer.concat([base, Buffer.from([0x9a, 0x06, 0x02, 0x68, 0x69])]);
    const info = fromBinary(OrchestratorInfoSchema, extra);
    expect(Buffer.from(toBinary(OrchestratorInfoSchema, info)).equals(extra)).toBe(true);
    const payment = fromBinary(PaymentSchema, Buffer.from(BATCH.paymentBase64, "base64"));
    expect(payment.ticketSenderParams).toHaveLength(3);
  });
});

test('a model named "__proto__" survives the capabilities round trip into signed credentials', () => {
  const constraints = create(Capabilities_CapabilityConstraintsSchema);
  // Decoded protobuf maps hold "__proto__" as an own key; model it the same way here.
  Object.defineProperty(constraints.models, "__proto__", {
    value: create(Capabilities_CapabilityConstraints_ModelConstraintSchema, { warm: true, capacity: 3 }),
    enumerable: true,
    configurable: true,
    writable: true,
  });
  const wire = create(CapabilitiesSchema, { constraints: create(Capabilities_ConstraintsSchema, { PerCapability: { 35: constraints } }) });
  const decoded = fromBinary(CapabilitiesSchema, toBinary(CapabilitiesSchema, wire));
  const normalized = normalizeCapabilities(decoded);
  const models = normalized.constraints!.PerCapability[35].models;
  expect(Object.keys(models)).toEqual(["__proto__"]);
  expect(Object.getOwnPropertyDescriptor(models, "__proto__")?.value).toMatchObject({ warm: true, capacity: 3 });
});
