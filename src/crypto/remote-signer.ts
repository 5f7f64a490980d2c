/**
 * An EthSigner-like signer whose key is in a KeyBackend (an HSM, AWS KMS, a JSON-RPC signer):
 * every signature is a round trip, so it signs asynchronously. Whatever the backend returns is
 * normalized to what go-livepeer's keystore produces (and crypto/eth-sign.ts's local signer):
 * 65 bytes r||s||v, s in the lower half of the curve order, v in {27, 28} found by recovery
 * against the backend's public key. A signature that does not recover to the key is never
 * returned.
 */
import { secp256k1 } from "@noble/curves/secp256k1";
import { KeyBackendUnavailableError, type KeyBackend, type KeyBackendKind } from "../keys/key-backend.js";
import { bytesEqual, fromHex, keccak256, toHex, utf8 } from "./bytes.js";
import { checksumAddress, personalMessageHash, publicKeyToAddress, recoverPublicKey, recoverSigner, type EthSigner } from "./eth-sign.js";

const N = secp256k1.CURVE.n;

export interface RemoteEthSigner {
  readonly address: Uint8Array;
  readonly addressHex: string;
  readonly keyBackend: Exclude<KeyBackendKind, "keystore">;
  /** ethSign(m): 65-byte r||s||v over the EIP-191 hash of m, v in {27,28}, low s. */
  signAsync(message: Uint8Array): Promise<Uint8Array>;
  /** Resolves when the backend can sign now; rejects with KeyBackendUnavailableError. */
  check(): Promise<void>;
  close(): Promise<void>;
}

/** A signer whose key is in this process (EthSigner) or behind a KeyBackend (RemoteEthSigner). */
export type AnySigner = EthSigner | RemoteEthSigner;

export function isRemoteSigner(signer: AnySigner): signer is RemoteEthSigner {
  return "signAsync" in signer;
}

/** ethSign(m) with either kind of signer. */
export async function signWith(signer: AnySigner, message: Uint8Array): Promise<Uint8Array> {
  return isRemoteSigner(signer) ? signer.signAsync(message) : signer.sign(message);
}

/** ethSign(keccak256(utf8(checksummed address))): what /sign-orchestrator-info returns, made once at start. */
export function orchestratorInfoSignature(signer: AnySigner): Promise<Uint8Array> {
  return signWith(signer, keccak256(utf8.encode(signer.addressHex)));
}

/** Rejects with KeyBackendUnavailableError after ms, naming what timed out. */
function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KeyBackendUnavailableError(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** A backend's failure as unavailability (its message only: backends keep secrets out of it). */
function unavailable(kind: string, err: unknown): KeyBackendUnavailableError {
  if (err instanceof KeyBackendUnavailableError) return err;
  return new KeyBackendUnavailableError(`${kind} key backend: ${err instanceof Error ? err.message : String(err)}`);
}

/** r||s with s made low, and the v (27 or 28) that recovers `publicKey` for `digest`; undefined if none does. */
export function normalizeSignature(digest: Uint8Array, r: bigint, s: bigint, publicKey: Uint8Array): Uint8Array | undefined {
  if (r <= 0n || r >= N || s <= 0n || s >= N) return undefined;
  const low = s > N / 2n ? N - s : s;
  const out = new Uint8Array(65);
  out.set(fromHex(r.toString(16).padStart(64, "0")), 0);
  out.set(fromHex(low.toString(16).padStart(64, "0")), 32);
  // Recovery with the native addon (noble's pure-JS recovery took 3-5 ms, twice per signature at worst).
  for (const recovery of [0, 1]) {
    try {
      if (!bytesEqual(recoverPublicKey(digest, out.subarray(0, 64), recovery), publicKey)) continue;
      out[64] = 27 + recovery;
      return out;
    } catch {
      // not this recovery id
    }
  }
  return undefined;
}

/**
 * Opens the signer on `backend`: reads its public key, derives the address, and checks a
 * sign-and-recover round trip before anything else uses it.
 */
export async function createRemoteEthSigner(backend: KeyBackend, opts: { timeoutMs?: number } = {}): Promise<RemoteEthSigner> {
  if (backend.kind === "keystore") throw new Error("the keystore backend signs in process: use createEthSigner");
  const kind = backend.kind;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const publicKey = await withTimeout(backend.publicKey(), timeoutMs, `${kind} key backend`).catch((err: unknown) => {
    throw unavailable(kind, err);
  });
  if (publicKey.length !== 65 || publicKey[0] !== 4) throw new Error(`${kind} key backend: not an uncompressed secp256k1 public key`);
  const address = publicKeyToAddress(publicKey);

  async function signAsync(message: Uint8Array): Promise<Uint8Array> {
    let sig: Uint8Array | undefined;
    try {
      if (backend.signDigest) {
        const digest = personalMessageHash(message);
        const { r, s } = await withTimeout(backend.signDigest(digest), timeoutMs, `${kind} key backend`);
        sig = normalizeSignature(digest, r, s, publicKey);
      } else if (backend.signPersonal) {
        const raw = await withTimeout(backend.signPersonal(message), timeoutMs, `${kind} key backend`);
        if (raw.length === 65) {
          const r = BigInt("0x" + toHex(raw.subarray(0, 32)));
          const s = BigInt("0x" + toHex(raw.subarray(32, 64)));
          sig = normalizeSignature(personalMessageHash(message), r, s, publicKey);
        }
      }
    } catch (err) {
      throw unavailable(kind, err);
    }
    if (!sig) throw new KeyBackendUnavailableError(`${kind} key backend: its signature does not recover to ${checksumAddress(address)}`);
    return sig;
  }

  const signer: RemoteEthSigner = {
    address,
    addressHex: checksumAddress(address),
    keyBackend: kind,
    signAsync,
    check: () =>
      withTimeout(backend.check(), timeoutMs, `${kind} key backend`).catch((err: unknown) => {
        throw unavailable(kind, err);
      }),
    close: () => backend.close(),
  };
  // The self-test: a real signature, recovered under go-livepeer's rules.
  const probe = keccak256(utf8.encode(`lpsigner self-test ${signer.addressHex}`));
  const sig = await signAsync(probe);
  const recovered = recoverSigner(probe, sig);
  if (!recovered || !bytesEqual(recovered, address)) throw new KeyBackendUnavailableError(`${kind} key backend: the self-test signature does not recover`);
  return signer;
}

/**
 * The backend's health as /readyz and grpc.health report it: checked every `everyMs` in the
 * background (never on a probe's path), so a failing backend makes the signer unready and a
 * recovered one ready again, without a restart.
 */
export function watchKeyHealth(signer: RemoteEthSigner, everyMs = 2000): { problem(): string | undefined; stop(): void } {
  let problem: string | undefined;
  let running = false;
  const run = () => {
    if (running) return;
    running = true;
    signer.check().then(
      () => (problem = undefined),
      (err: unknown) => (problem = err instanceof Error ? err.message : String(err)),
    ).finally(() => (running = false));
  };
  const timer = setInterval(run, everyMs);
  timer.unref();
  return { problem: () => problem, stop: () => clearInterval(timer) };
}
