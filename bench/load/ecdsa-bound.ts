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

/**
 * Fastest µs per call of fn over rounds of n calls: the bound is what the machine can do, and on
 * a shared machine a slower round measures a neighbour, not the operation.
 */
function timeUs(fn: () => void, n: number, rounds = 9): number {
  for (let i = 0; i < n / 4; i++) fn();
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    best = Math.min(best, ((performance.now() - t0) * 1000) / n);
  }
  return best;
}

/** The faster of two measurements, op by op (taken at the start and at the end of a run). */
export function fasterBound(a: EcdsaBound, b: EcdsaBound): EcdsaBound {
  const signUs = Math.min(a.signUs, b.signUs);
  const recoverUs = Math.min(a.recoverUs, b.recoverUs);
  const keccakUs = Math.min(a.keccakUs, b.keccakUs);
  return { signUs, recoverUs, keccakUs, perCore: 1e6 / (3 * signUs + recoverUs + 4 * keccakUs) };
}

/**
 * `scale` sizes the rounds: 1 for the run's bound (about 2 s), less for the short measurement
 * taken beside each load level.
 */
export function measureEcdsaBound(scale = 1): EcdsaBound {
  const native = createRequire(import.meta.url)("secp256k1/bindings") as NativeSecp256k1;
  const key = randomBytes(32);
  const digest = randomBytes(32);
  const { signature, recid } = native.ecdsaSign(digest, key);
  // A ticket's abi-encoded preimage is 232 bytes; the digests hash 60-500 bytes.
  const preimage = randomBytes(232);
  const signUs = timeUs(() => native.ecdsaSign(digest, key), 2000 * scale);
  const recoverUs = timeUs(() => native.ecdsaRecover(signature, recid, digest, false), 2000 * scale);
  const keccakUs = timeUs(() => keccak256(preimage), 20000 * scale);
  return { signUs, recoverUs, keccakUs, perCore: 1e6 / (3 * signUs + recoverUs + 4 * keccakUs) };
}
