import { randomBytes } from "node:crypto";
import { Wallet, getBytes, hexlify } from "ethers";
import { describe, expect, test } from "vitest";
import { fromHex, keccak256, toHex, utf8 } from "./bytes.js";
import { createEthSigner, nativeBackendAvailable, recoverSigner, verifySignature } from "./eth-sign.js";
import { ORCH_INFO_SIGNATURE, TEST_ADDRESS, TEST_PRIVATE_KEY } from "../../test/fixtures/spec-vectors.js";

describe("ethSign", () => {
  test("the native addon loads here (the fast path is really used)", () => {
    expect(nativeBackendAvailable()).toBe(true);
  });

  test("signs the spec's orchestrator-info message with both backends", () => {
    for (const backend of ["native", "noble"] as const) {
      const signer = createEthSigner(fromHex(TEST_PRIVATE_KEY), backend);
      expect(signer.addressHex).toBe(TEST_ADDRESS);
      const sig = signer.sign(keccak256(utf8.encode(signer.addressHex)));
      expect("0x" + toHex(sig)).toBe(ORCH_INFO_SIGNATURE);
    }
  });

  test("native and noble produce identical RFC 6979 signatures, equal to ethers', and recover alike", async () => {
    for (let i = 0; i < 50; i++) {
      const key = randomBytes(32);
      const message = randomBytes(1 + (i % 64));
      const a = createEthSigner(key, "native").sign(message);
      const b = createEthSigner(key, "noble").sign(message);
      expect(toHex(a)).toBe(toHex(b));
      expect(hexlify(a)).toBe(await new Wallet(hexlify(key)).signMessage(getBytes(message)));
      expect(a[64] === 27 || a[64] === 28).toBe(true);
      const expected = createEthSigner(key).address;
      expect(recoverSigner(message, a, "native")).toEqual(expected);
      expect(recoverSigner(message, a, "noble")).toEqual(expected);
    }
  });

  test("verification applies the reference's rules: length, v in {27,28}, low s", () => {
    const signer = createEthSigner(randomBytes(32));
    const m = utf8.encode("hello");
    const sig = signer.sign(m);
    expect(verifySignature(signer.address, m, sig)).toBe(true);
    expect(verifySignature(signer.address, m, sig.subarray(0, 64))).toBe(false);
    const v01 = Uint8Array.from(sig);
    v01[64]! -= 27;
    expect(verifySignature(signer.address, m, v01)).toBe(false);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const highS = Uint8Array.from(sig);
    highS.set(fromHex((n - BigInt("0x" + toHex(sig.subarray(32, 64)))).toString(16).padStart(64, "0")), 32);
    highS[64] = sig[64] === 27 ? 28 : 27;
    // The high-s twin recovers the same key mathematically but must be refused.
    expect(verifySignature(signer.address, m, highS)).toBe(false);
    expect(verifySignature(signer.address, utf8.encode("hellO"), sig)).toBe(false);
  });
});
