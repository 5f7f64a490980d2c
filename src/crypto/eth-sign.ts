import { secp256k1 as noble } from "@noble/curves/secp256k1";
import { createRequire } from "node:module";
import { getAddress } from "ethers/address";
import { bytesEqual, keccak256, pooledBytes, toHex, utf8 } from "./bytes.js";

/** secp256k1 backend: native libsecp256k1 when its addon loads, else noble (pure JS). */
export type SignatureBackend = "native" | "noble";

interface NativeSecp256k1 {
  /** Writes the 64-byte r||s into `output` when given. */
  ecdsaSign(msg32: Uint8Array, key: Uint8Array, options?: object, output?: Uint8Array): { signature: Uint8Array; recid: number };
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed: boolean): Uint8Array;
  publicKeyCreate(key: Uint8Array, compressed: boolean): Uint8Array;
  privateKeyVerify(key: Uint8Array): boolean;
}

const native: NativeSecp256k1 | undefined = (() => {
  try {
    // The package's bindings entry is the compiled addon only (its index falls back to JS).
    return createRequire(import.meta.url)("secp256k1/bindings") as NativeSecp256k1;
  } catch {
    return undefined;
  }
})();

/** The uncompressed public key that made r||s (64 bytes) over `digest` with this recovery id; throws when none does. */
export function recoverPublicKey(digest: Uint8Array, rs: Uint8Array, recovery: number): Uint8Array {
  if (native) return native.ecdsaRecover(rs, recovery, Uint8Array.from(digest), false);
  return noble.Signature.fromCompact(rs).addRecoveryBit(recovery).recoverPublicKey(digest).toRawBytes(false);
}

export function nativeBackendAvailable(): boolean {
  return native !== undefined;
}

export function defaultBackend(): SignatureBackend {
  return native ? "native" : "noble";
}

const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/** keccak256("\x19Ethereum Signed Message:\n" + len(m) + m): go-ethereum's accounts.TextHash. */
export function personalMessageHash(message: Uint8Array): Uint8Array {
  // The prefix is ASCII; Buffer.from takes it from the pool (TextEncoder allocates an ArrayBuffer).
  return keccak256(Buffer.from(`\x19Ethereum Signed Message:\n${message.length}`, "latin1"), message);
}

/**
 * The digest as the addon reads it. N-API hands the addon a typed array's ArrayBuffer, and a
 * 32-byte array still inside the JS heap is first moved out into a new one; this one is already
 * out (and only used synchronously).
 */
const digestForAddon = new Uint8Array(new ArrayBuffer(32));
/** Where the addon writes r||s, copied out at once: no view of the result to allocate per signature. */
const signatureFromAddon = new Uint8Array(new ArrayBuffer(64));
/** RFC 6979 nonces, the addon's default: one options object for every signature. */
const DEFAULT_SIGN_OPTIONS = Object.freeze({});

export function publicKeyToAddress(uncompressed: Uint8Array): Uint8Array {
  return keccak256(uncompressed.subarray(1)).subarray(12);
}

/** EIP-55 checksummed 0x address string. */
export function checksumAddress(address: Uint8Array): string {
  return getAddress("0x" + toHex(address));
}

/** An Ethereum key that signs; the private key never leaves this closure. */
export interface EthSigner {
  readonly address: Uint8Array;
  readonly addressHex: string;
  readonly backend: SignatureBackend;
  /** ethSign(m): 65-byte r||s||v over the EIP-191 hash of m, v in {27,28}, low s, RFC 6979. */
  sign(message: Uint8Array): Uint8Array;
}

export function createEthSigner(privateKey: Uint8Array, backend: SignatureBackend = defaultBackend()): EthSigner {
  if (privateKey.length !== 32 || !noble.utils.isValidPrivateKey(privateKey)) {
    throw new Error("invalid secp256k1 private key");
  }
  if (backend === "native" && !native) throw new Error("native secp256k1 backend is not available");
  // Its own ArrayBuffer: the addon reads it on every signature (see digestForAddon).
  const key = new Uint8Array(new ArrayBuffer(32));
  key.set(privateKey);
  const address = publicKeyToAddress(noble.getPublicKey(key, false));
  const signDigest =
    backend === "native"
      ? (digest: Uint8Array) => {
          digestForAddon.set(digest);
          const { recid } = native!.ecdsaSign(digestForAddon, key, DEFAULT_SIGN_OPTIONS, signatureFromAddon);
          // Pooled (see pooledBytes): every byte is written.
          const out = pooledBytes(65);
          out.set(signatureFromAddon);
          out[64] = 27 + recid;
          return out;
        }
      : (digest: Uint8Array) => {
          const sig = noble.sign(digest, key, { lowS: true });
          const out = new Uint8Array(65);
          out.set(sig.toCompactRawBytes(), 0);
          out[64] = 27 + sig.recovery;
          return out;
        };
  return {
    address,
    addressHex: checksumAddress(address),
    backend,
    sign: (message) => signDigest(personalMessageHash(message)),
  };
}

/**
 * The signature a gateway puts in net.OrchestratorRequest and /sign-orchestrator-info returns:
 * ethSign(keccak256(utf8(checksummed address))).
 */
export function signOrchestratorInfo(signer: Pick<EthSigner, "addressHex" | "sign">): Uint8Array {
  return signer.sign(keccak256(utf8.encode(signer.addressHex)));
}

/**
 * Recovers the signer of ethSign(message) under go-livepeer's rules (crypto/verify.go):
 * 65 bytes, s <= n/2, v in {27, 28}. Returns undefined when the signature is not acceptable.
 */
export function recoverSigner(
  message: Uint8Array,
  sig: Uint8Array,
  backend: SignatureBackend = defaultBackend(),
): Uint8Array | undefined {
  if (sig.length !== 65) return undefined;
  const v = sig[64]!;
  if (v !== 27 && v !== 28) return undefined;
  const s = BigInt("0x" + toHex(sig.subarray(32, 64)));
  if (s > SECP256K1_HALF_N) return undefined;
  const digest = personalMessageHash(message);
  try {
    if (backend === "native" && native) {
      digestForAddon.set(digest);
      return publicKeyToAddress(native.ecdsaRecover(sig.subarray(0, 64), v - 27, digestForAddon, false));
    }
    const signature = noble.Signature.fromCompact(sig.subarray(0, 64)).addRecoveryBit(v - 27);
    return publicKeyToAddress(signature.recoverPublicKey(digest).toRawBytes(false));
  } catch {
    return undefined;
  }
}

export function verifySignature(
  address: Uint8Array,
  message: Uint8Array,
  sig: Uint8Array,
  backend: SignatureBackend = defaultBackend(),
): boolean {
  const recovered = recoverSigner(message, sig, backend);
  return recovered !== undefined && bytesEqual(recovered, address);
}
