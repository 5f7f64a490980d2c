import { describe, expect, test } from "vitest";
import { fromHex, toHex, utf8 } from "../crypto/bytes.js";
import { createEthSigner } from "../crypto/eth-sign.js";
import { SIGNED_STATE, TEST_PRIVATE_KEY } from "../../test/fixtures/spec-vectors.js";
import { decodeState, encodeState, InvalidStateError, InvalidStateSignatureError, openState, signState } from "./payment-state.js";

const signer = createEthSigner(fromHex(TEST_PRIVATE_KEY));
const vectorBytes = utf8.encode(SIGNED_STATE.json);

describe("payment state", () => {
  test("decodes and re-encodes the spec's state byte for byte, with the spec's signature", () => {
    const state = decodeState(vectorBytes);
    expect(state.balance).toBe("1237/7");
    expect(state.senderNonce).toBe(8);
    expect(state.sequenceNumber).toBe(3n);
    expect(Buffer.from(encodeState(state)).toString()).toBe(SIGNED_STATE.json);
    expect(vectorBytes.length).toBe(374);
    const signed = signState(state, signer);
    expect("0x" + toHex(signed.sig)).toBe(SIGNED_STATE.sig);
    const wire = JSON.parse(SIGNED_STATE.wire) as { State: string; Sig: string };
    expect(Buffer.from(signed.state).toString("base64")).toBe(wire.State);
    expect(Buffer.from(signed.sig).toString("base64")).toBe(wire.Sig);
  });

  test("rejects any tampered byte, a wrong signer and truncated blobs", () => {
    const sig = fromHex(SIGNED_STATE.sig);
    expect(openState({ state: vectorBytes, sig }, signer.address).balance).toBe("1237/7");
    const fields = ["0badc0de", "1237/7", '"SenderNonce":8', '"SequenceNumber":3', "lv2v", "05:36:11", "0x1111"];
    for (const f of fields) {
      const tampered = utf8.encode(SIGNED_STATE.json.replace(f, f.slice(0, -1) + (f.endsWith("1") ? "2" : "1")));
      expect(() => openState({ state: tampered, sig }, signer.address)).toThrow(InvalidStateSignatureError);
    }
    for (let i = 0; i < vectorBytes.length; i += 17) {
      const flipped = Uint8Array.from(vectorBytes);
      flipped[i]! ^= 1;
      expect(() => openState({ state: flipped, sig }, signer.address)).toThrow(InvalidStateSignatureError);
    }
    const other = createEthSigner(fromHex("0x" + "11".repeat(32)));
    expect(() => openState({ state: vectorBytes, sig }, other.address)).toThrow(InvalidStateSignatureError);
    expect(() => openState({ state: vectorBytes.subarray(0, 100), sig }, signer.address)).toThrow(InvalidStateSignatureError);
    expect(() => openState({ state: vectorBytes, sig: sig.subarray(0, 64) }, signer.address)).toThrow(InvalidStateSignatureError);
    // High-s twin of a valid signature: refused as the reference's verify does.
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const s = BigInt("0x" + toHex(sig.subarray(32, 64)));
    const highS = Uint8Array.from(sig);
    highS.set(fromHex((n - s).toString(16).padStart(64, "0")), 32);
    highS[64] = highS[64] === 27 ? 28 : 27;
    expect(() => openState({ state: vectorBytes, sig: highS }, signer.address)).toThrow(InvalidStateSignatureError);
  });

  test("accepts Go's other valid forms: offsets, case-insensitive keys, checksummed address", () => {
    const json = SIGNED_STATE.json
      .replace("2026-11-23T05:36:11.123456789Z", "2026-11-23T06:36:11.123456789+01:00")
      .replace('"StateID"', '"stateid"')
      .replace("0x1111111111111111111111111111111111111111", "0xAbCdEf0000000000000000000000000000000000");
    const s = decodeState(utf8.encode(json));
    expect(s.stateId).toBe("0badc0de");
    expect(s.lastUpdate).toBe(decodeState(vectorBytes).lastUpdate);
    expect(toHex(s.orchestratorAddress)).toBe("abcdef0000000000000000000000000000000000");
  });

  test("rejects JSON of the wrong shape with a clear error", () => {
    const bad = [
      "not json",
      "[]",
      SIGNED_STATE.json.replace('"SenderNonce":8', '"SenderNonce":-1'),
      SIGNED_STATE.json.replace('"SenderNonce":8', '"SenderNonce":4294967296'),
      SIGNED_STATE.json.replace('"SequenceNumber":3', '"SequenceNumber":1.5'),
      SIGNED_STATE.json.replace('"AuthExpiry":0', '"AuthExpiry":"0"'),
      SIGNED_STATE.json.replace("2026-11-23T05:36:11.123456789Z", "yesterday"),
      SIGNED_STATE.json.replace("0x1111111111111111111111111111111111111111", "0x11"),
    ];
    for (const text of bad) expect(() => decodeState(utf8.encode(text)), text).toThrow(InvalidStateError);
  });

  test("escapes strings as Go's encoder does", () => {
    const s = { ...decodeState(vectorBytes), app: "<a&b>\u2028\n" };
    expect(Buffer.from(encodeState(s)).toString()).toContain('"App":"\\u003ca\\u0026b\\u003e\\u2028\\n"');
    expect(decodeState(encodeState(s)).app).toBe("<a&b>\u2028\n");
  });
});

describe("payment state decoding, Go's json.Unmarshal rules", () => {
  test("refuses trailing data and a null address; keeps nanoseconds of longer fractions", () => {
    expect(() => decodeState(utf8.encode(SIGNED_STATE.json + " x"))).toThrow(InvalidStateError);
    expect(() => decodeState(utf8.encode(SIGNED_STATE.json.replace('"0x1111111111111111111111111111111111111111"', "null")))).toThrow(InvalidStateError);
    const long = decodeState(utf8.encode(SIGNED_STATE.json.replace("11.123456789Z", "11.1234567891234Z")));
    expect(long.lastUpdate).toBe(decodeState(vectorBytes).lastUpdate);
    expect(() => decodeState(utf8.encode(SIGNED_STATE.json.replace('"SenderNonce":8', '"SenderNonce":-0')))).toThrow(InvalidStateError);
  });
});
