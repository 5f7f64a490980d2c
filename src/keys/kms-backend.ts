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
 *
 * The SDK opens the backend (credential chain, endpoint, GetPublicKey, DescribeKey for readiness),
 * but each Sign is a direct request: KMS's JSON protocol, SigV4-signed with @smithy/signature-v4
 * and the SDK's credentials, on the kept-alive agent. The SDK's per-request middleware (endpoint
 * rules, retry strategy, user agent, serde) cost about 640 µs of CPU per Sign, more than half a
 * loopback round trip, and a payment call makes two.
 */
import { createPublicKey } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
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

async function loadSigV4(): Promise<typeof import("@smithy/signature-v4")> {
  try {
    return await import("@smithy/signature-v4");
  } catch (err) {
    if ((err as { code?: string }).code !== "ERR_MODULE_NOT_FOUND") throw err;
    throw new Error("AWS KMS backend: the package @smithy/signature-v4 is not installed (run npm install in lpsigner's directory)");
  }
}

/** Attempts per Sign (the first and two retries), all within the one timeout. */
const SIGN_ATTEMPTS = 3;

/** A successful check is trusted this long, so a /readyz poll does not cost a KMS call each time. */
const CHECK_FRESH_MS = 5_000;

export async function openKmsBackend(opts: KmsBackendOptions): Promise<KeyBackend> {
  const sdk = await loadSdk();
  const { SignatureV4 } = await loadSigV4();
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

  /** Where Sign goes: the -awsKmsEndpoint override, else what the SDK resolves for the region (AWS_ENDPOINT_URL_KMS, FIPS and dual-stack settings included). */
  const signEndpoint = async (): Promise<URL> => {
    if (opts.endpoint) return new URL(opts.endpoint);
    const c = client.config;
    const configured = c.ignoreConfiguredEndpointUrls ? undefined : await c.serviceConfiguredEndpoint?.();
    const params = { Region: opts.region, UseFIPS: await c.useFipsEndpoint(), UseDualStack: await c.useDualstackEndpoint() };
    return c.endpointProvider(configured ? { ...params, Endpoint: configured } : params).url;
  };

  const sigv4 = new SignatureV4({ service: "kms", region: opts.region, sha256: client.config.sha256, credentials: () => client.config.credentials() });

  /** One Sign request and its answer; a KMS error reply throws an Error named by its __type, as the SDK's would be. */
  const signRequest = async (body: string, signal: AbortSignal): Promise<Uint8Array> => {
    const headers = {
      host: url.host,
      "content-type": "application/x-amz-json-1.1",
      "content-length": String(Buffer.byteLength(body)),
      "x-amz-target": "TrentService.Sign",
    };
    // The credentials provider is memoized: it refreshes temporary credentials only when they expire.
    const signed = await sigv4.sign({ method: "POST", protocol: url.protocol, hostname: url.hostname, path: url.pathname, query: {}, headers, body });
    const res = await new Promise<{ status: number; type?: string; body: Buffer }>((resolve, reject) => {
      const req = (url.protocol === "https:" ? https : http).request(
        {
          agent: url.protocol === "https:" ? httpsAgent : httpAgent,
          method: "POST",
          hostname: url.hostname.replace(/^\[|\]$/g, ""),
          port: url.port || undefined,
          path: url.pathname,
          headers: signed.headers,
          signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, type: res.headers["x-amzn-errortype"] as string | undefined, body: Buffer.concat(chunks) }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    if (res.status === 200) {
      const out = JSON.parse(res.body.toString("utf8")) as { Signature?: string };
      return Buffer.from(out.Signature ?? "", "base64");
    }
    let reply: { __type?: string; message?: string; Message?: string } = {};
    try {
      reply = JSON.parse(res.body.toString("utf8"));
    } catch {
      // not JSON (a proxy's page): named by the status below
    }
    // "com.amazonaws.kms#NotFoundException" or "NotFoundException:http://…": the bare name.
    const type = (reply.__type ?? res.type ?? "").split("#").pop()!.split(":")[0];
    throw Object.assign(new Error(reply.message ?? reply.Message ?? `HTTP ${res.status}`), { name: type || `HTTP ${res.status}`, status: res.status });
  };

  /** Throttling, a KMS 5xx or a dropped connection (a kept-alive socket the server closed) is worth another attempt. */
  const retryable = (err: unknown): boolean => {
    const e = err as { name?: string; code?: string; status?: number };
    if (e.status !== undefined) return e.status >= 500 || e.status === 429 || /Throttl|LimitExceeded|TooManyRequests/.test(e.name ?? "");
    return !!e.code && /^E[A-Z_]+$/.test(e.code);
  };

  const sign = async (digest: Uint8Array, signal: AbortSignal): Promise<Uint8Array> => {
    const body = JSON.stringify({ KeyId: opts.keyId, Message: Buffer.from(digest).toString("base64"), MessageType: "DIGEST", SigningAlgorithm: "ECDSA_SHA_256" });
    for (let attempt = 1; ; attempt++) {
      try {
        return await signRequest(body, signal);
      } catch (err) {
        if (attempt >= SIGN_ATTEMPTS || signal.aborted || !retryable(err)) throw err;
        // Full jitter, 0–50 ms then 0–100 ms: short beside the timeout, spread so throttled callers do not retry in step.
        await sleep(Math.random() * 25 * 2 ** attempt, undefined, { signal });
      }
    }
  };

  let url: URL;
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
    url = await signEndpoint();
  } catch (err) {
    await close();
    throw err;
  }

  return {
    kind: "kms",
    publicKey: async () => publicKey.slice(),
    async signDigest(digest) {
      if (digest.length !== 32) throw new Error(`${label}: a digest is 32 bytes, got ${digest.length}`);
      const der = await bounded("Sign", (abortSignal) => sign(digest, abortSignal));
      if (der.length === 0) throw new KeyBackendUnavailableError(`${label}: Sign: the answer has no signature`);
      try {
        const sig = secp256k1.Signature.fromDER(der);
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
