/**
 * AWS KMS backend: the key is an asymmetric KMS key (KeySpec ECC_SECG_P256K1, KeyUsage
 * SIGN_VERIFY) that never leaves KMS. lpsigner hashes the EIP-191 message itself and asks KMS to
 * sign the 32-byte digest (Sign, SigningAlgorithm ECDSA_SHA_256, MessageType DIGEST: KMS signs the
 * digest as given, it does not hash it again). KMS answers a DER ECDSA-Sig-Value with a random
 * nonce and any S; crypto/remote-signer.ts makes S low and finds v by recovery against the public
 * key read here once (GetPublicKey, a DER SubjectPublicKeyInfo).
 *
 * Credentials come from the AWS SDK's standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
 * AWS_PROFILE and ~/.aws, web identity, ECS/EC2 roles); lpsigner never takes them as flags.
 * @aws-sdk/client-kms is imported only when this backend is opened, so a signer that does not use
 * KMS never loads it.
 */
import { createPublicKey } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { secp256k1 } from "@noble/curves/secp256k1";
import { KeyBackendUnavailableError, type KeyBackend } from "./key-backend.js";

export interface KmsBackendOptions {
  /** Key id, key ARN, alias name (alias/…) or alias ARN. */
  keyId: string;
  region: string;
  /** Overrides the regional endpoint (a VPC endpoint, or a local emulator in tests). */
  endpoint?: string;
  /** Bound on one call (sign, public key, check), retries included. */
  timeoutMs: number;
}

type KmsModule = typeof import("@aws-sdk/client-kms");

async function loadSdk(): Promise<KmsModule> {
  try {
    return await import("@aws-sdk/client-kms");
  } catch (err) {
    if ((err as { code?: string }).code !== "ERR_MODULE_NOT_FOUND") throw err;
    throw new Error("AWS KMS backend: the package @aws-sdk/client-kms is not installed (run npm install in lpsigner's directory)");
  }
}

/** A successful check is trusted this long, so a /readyz poll does not cost a KMS call each time. */
const CHECK_FRESH_MS = 5_000;

export async function openKmsBackend(opts: KmsBackendOptions): Promise<KeyBackend> {
  const sdk = await loadSdk();
  const label = `AWS KMS key ${opts.keyId}`;
  // One connection pool for the backend's life: a signature is one HTTPS round trip, not a handshake too.
  const agentOpts = { keepAlive: true, maxSockets: 16 };
  const httpsAgent = new https.Agent(agentOpts);
  const httpAgent = new http.Agent(agentOpts);
  const client = new sdk.KMSClient({
    region: opts.region,
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    requestHandler: { httpAgent, httpsAgent, connectionTimeout: opts.timeoutMs, requestTimeout: opts.timeoutMs },
    // Retries (throttling, a dropped connection) happen inside the one timeout below.
    maxAttempts: 3,
  });

  /** The secrets the SDK resolved, so an error message that somehow quotes one can be scrubbed. */
  const secrets = async (): Promise<string[]> => {
    try {
      const c = await client.config.credentials();
      return [c.secretAccessKey, c.sessionToken].filter((s): s is string => !!s && s.length >= 8);
    } catch {
      return [];
    }
  };

  /** One line naming the key and the reason; never a credential. */
  const describe = async (op: string, err: unknown): Promise<string> => {
    const e = err as { name?: string; message?: string; code?: string };
    const name = e?.name ?? "Error";
    const code = e?.code;
    let why: string;
    if (name === "AbortError" || name === "TimeoutError" || code === "ETIMEDOUT") why = `no answer within ${opts.timeoutMs} ms`;
    else if (code && /^E[A-Z]+$/.test(code)) why = `cannot reach ${endpointHost(opts.endpoint, opts.region)} (${code})`;
    else if (name === "CredentialsProviderError")
      why = "no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an IAM role)";
    else if (name === "UnrecognizedClientException" || name === "InvalidClientTokenId") why = "credentials rejected: the access key or session token is not recognized";
    else if (name === "InvalidSignatureException" || name === "SignatureDoesNotMatch") why = "credentials rejected: the secret access key does not match the access key";
    else if (name === "ExpiredTokenException") why = "credentials rejected: the session token has expired";
    else if (name === "AccessDeniedException") why = "access denied (the key policy or IAM policy must allow kms:Sign, kms:GetPublicKey and kms:DescribeKey)";
    else if (name === "NotFoundException") why = "no such key in this account and region";
    else if (name === "DisabledException") why = "the key is disabled";
    else {
      // The only case that quotes the SDK's own text.
      why = `${name}: ${oneLine(e?.message ?? String(err))}`;
      for (const s of await secrets()) why = why.split(s).join("***");
    }
    return `${label}: ${op}: ${why}`;
  };

  /** Until when a check may answer from the last success (a signature or a DescribeKey). */
  let checkedUntil = 0;

  /** One KMS call bounded by the timeout; any failure becomes KeyBackendUnavailableError. */
  const bounded = async <T>(op: string, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> => {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), opts.timeoutMs);
    try {
      return await call(abort.signal);
    } catch (err) {
      checkedUntil = 0; // a failed call makes the next check ask KMS
      const why = await describe(op, abort.signal.aborted ? Object.assign(new Error(), { name: "TimeoutError" }) : err);
      throw new KeyBackendUnavailableError(why);
    } finally {
      clearTimeout(timer);
    }
  };

  const close = async () => {
    client.destroy();
    httpsAgent.destroy();
    httpAgent.destroy();
  };

  let publicKey: Uint8Array;
  try {
    const info = await bounded("GetPublicKey", (abortSignal) => client.send(new sdk.GetPublicKeyCommand({ KeyId: opts.keyId }), { abortSignal }));
    if (info.KeyUsage !== "SIGN_VERIFY" || !info.SigningAlgorithms?.includes("ECDSA_SHA_256")) {
      throw new Error(`${label}: the key cannot sign with ECDSA_SHA_256 (KeyUsage ${info.KeyUsage}); create it with KeyUsage SIGN_VERIFY`);
    }
    if (info.KeySpec !== "ECC_SECG_P256K1" || !info.PublicKey) {
      throw new Error(`${label}: the key is ${info.KeySpec}, not ECC_SECG_P256K1 (secp256k1, Ethereum's curve)`);
    }
    publicKey = spkiToUncompressed(info.PublicKey, label);
  } catch (err) {
    await close();
    throw err;
  }

  return {
    kind: "kms",
    publicKey: async () => publicKey.slice(),
    async signDigest(digest) {
      if (digest.length !== 32) throw new Error(`${label}: a digest is 32 bytes, got ${digest.length}`);
      const command = new sdk.SignCommand({ KeyId: opts.keyId, Message: digest, MessageType: "DIGEST", SigningAlgorithm: "ECDSA_SHA_256" });
      const out = await bounded("Sign", (abortSignal) => client.send(command, { abortSignal }));
      if (!out.Signature) throw new KeyBackendUnavailableError(`${label}: Sign: the answer has no signature`);
      try {
        const sig = secp256k1.Signature.fromDER(out.Signature);
        checkedUntil = Date.now() + CHECK_FRESH_MS;
        return { r: sig.r, s: sig.s };
      } catch {
        throw new KeyBackendUnavailableError(`${label}: Sign: the answer is not a DER ECDSA signature`);
      }
    },
    async check() {
      if (Date.now() < checkedUntil) return;
      const d = await bounded("DescribeKey", (abortSignal) => client.send(new sdk.DescribeKeyCommand({ KeyId: opts.keyId }), { abortSignal }));
      const state = d.KeyMetadata?.KeyState;
      if (state !== "Enabled") throw new KeyBackendUnavailableError(`${label}: the key's state is ${state ?? "unknown"}, not Enabled`);
      checkedUntil = Date.now() + CHECK_FRESH_MS;
    },
    close,
  };
}

/** 0x04 || X || Y from a DER SubjectPublicKeyInfo on secp256k1 (Node's OpenSSL parses it and names the curve). */
export function spkiToUncompressed(der: Uint8Array, label = "AWS KMS key"): Uint8Array {
  let jwk: { crv?: string; x?: string; y?: string };
  try {
    jwk = createPublicKey({ key: Buffer.from(der), format: "der", type: "spki" }).export({ format: "jwk" });
  } catch {
    throw new Error(`${label}: the public key is not a DER SubjectPublicKeyInfo`);
  }
  if (jwk.crv !== "secp256k1" || !jwk.x || !jwk.y) throw new Error(`${label}: the public key is not on secp256k1 (${jwk.crv ?? "no curve"})`);
  const out = new Uint8Array(65);
  out[0] = 4;
  out.set(Buffer.from(jwk.x, "base64url"), 1);
  out.set(Buffer.from(jwk.y, "base64url"), 33);
  return out;
}

function endpointHost(endpoint: string | undefined, region: string): string {
  if (!endpoint) return `kms.${region}.amazonaws.com`;
  try {
    return new URL(endpoint).host; // host only: no user:password or path
  } catch {
    return "the endpoint";
  }
}

function oneLine(s: string): string {
  const line = s.split(/\r?\n/)[0]!.trim();
  return line.length > 200 ? line.slice(0, 200) + "…" : line;
}
