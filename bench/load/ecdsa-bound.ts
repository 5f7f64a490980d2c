/**
 * The ECDSA limit of this machine, measured in the same run as the load: a GenerateLivePayment
 * that signs one ticket must at least recover the incoming state's signer and sign the ticket,
 * the segment credentials and the new state, with four Keccak hashes (three EIP-191 digests and
 * the ticket hash). bound = 1 / (3·sign + recover + 4·keccak), per core.
 */
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { keccak256 } from "../../src/crypto/bytes.js";

interface NativeSecp256k1 {
  ecdsaSign(msg32: Uint8Array, key: Uint8Array): { signature: Uint8Array; recid: number };
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed: boolean): Uint8Array;
}

export interface EcdsaBound {
  signUs: number;
  recoverUs: number;
  keccakUs: number;
  /** calls per second on one core */
  perCore: number;
}

/** Median µs per call of fn over rounds of n calls. */
function timeUs(fn: () => void, n: number, rounds = 7): number {
  for (let i = 0; i < n / 4; i++) fn();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    samples.push(((performance.now() - t0) * 1000) / n);
  }
  return samples.sort((a, b) => a - b)[Math.floor(rounds / 2)]!;
}

export function measureEcdsaBound(): EcdsaBound {
  const native = createRequire(import.meta.url)("secp256k1/bindings") as NativeSecp256k1;
  const key = randomBytes(32);
  const digest = randomBytes(32);
  const { signature, recid } = native.ecdsaSign(digest, key);
  // A ticket's abi-encoded preimage is 232 bytes; the digests hash 60-500 bytes.
  const preimage = randomBytes(232);
  const signUs = timeUs(() => native.ecdsaSign(digest, key), 2000);
  const recoverUs = timeUs(() => native.ecdsaRecover(signature, recid, digest, false), 2000);
  const keccakUs = timeUs(() => keccak256(preimage), 20000);
  return { signUs, recoverUs, keccakUs, perCore: 1e6 / (3 * signUs + recoverUs + 4 * keccakUs) };
}
