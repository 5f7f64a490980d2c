/**
 * Runs inside the network namespace test/keys/kms.test.ts creates (loopback only): starts
 * local-kms, creates a secp256k1 signing key in it, drives src/keys/kms-backend.ts through
 * signing, an outage (local-kms frozen, then killed, then restarted on the same data) and the
 * error cases, then runs a whole signer on that key end to end (endToEnd below), and prints one
 * JSON object on stdout for the test to check.
 *
 * Env: LOCAL_KMS (the binary), KMS_WORKDIR (a fresh directory), AWS_SECRET_ACCESS_KEY (the secret
 * access key the SDK is given, which no error, log line or metric may contain), MESSAGES (hex,
 * comma separated), LATENCY_N (signatures to time).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { createWriteStream, readFileSync } from "node:fs";
import { createServer as createHttpServer, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { createServer, connect } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { CreateAliasCommand, CreateKeyCommand, DeleteAliasCommand, DisableKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { KeyBackendUnavailableError, type KeyBackend } from "../../../src/keys/key-backend.js";
import { openKmsBackend } from "../../../src/keys/kms-backend.js";
import { checksumAddress, personalMessageHash } from "../../../src/crypto/eth-sign.js";
import { createRemoteEthSigner, orchestratorInfoSignature } from "../../../src/crypto/remote-signer.js";
import { parseFlags } from "../../../src/config.js";
import { startDevChain } from "../../../src/dev-chain/dev-chain.js";
import { startSigner, type RunningSigner } from "../../../src/start-signer.js";
import { assertNoSecret, capturedLogger, runSignerBinary, sessionThroughOutage } from "./e2e-session.js";

const env = (name: string) => process.env[name] ?? fail(`${name} is not set`);
function fail(why: string): never {
  throw new Error(why);
}
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const REGION = "eu-west-2";
const TIMEOUT_MS = 1500;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((done) => {
      const c = connect(port, "127.0.0.1", () => (c.destroy(), done(true))).on("error", () => done(false));
    });
    if (ok) return;
    if (Date.now() > until) fail(`local-kms did not listen on ${port} within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const workdir = env("KMS_WORKDIR");
const log = createWriteStream(join(workdir, "local-kms.log"), { flags: "a" });
const port = await freePort();
const endpoint = `http://127.0.0.1:${port}`;

async function startKms(): Promise<ChildProcess> {
  const child = spawn(env("LOCAL_KMS"), [], {
    // The data path survives a restart, so the key does too; no seed file.
    env: { PATH: process.env.PATH, PORT: String(port), KMS_REGION: REGION, KMS_DATA_PATH: join(workdir, "data"), KMS_SEED_PATH: join(workdir, "no-seed.yaml") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  await waitForPort(port, 20_000);
  return child;
}

/** Waits until the process is in the stopped state: a signal's delivery lags under load, and a request sent before it lands is answered. */
async function stoppedState(pid: number): Promise<void> {
  const until = Date.now() + 2000;
  // /proc/<pid>/stat: "pid (comm) STATE …"; T is stopped.
  while (!/\) T /.test(readFileSync(`/proc/${pid}/stat`, "utf8"))) {
    if (Date.now() > until) fail("local-kms did not stop on SIGSTOP within 2 s");
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function stopKms(child: ChildProcess): Promise<void> {
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await gone;
}

/** The error a promise rejects with, and how long it took (undefined when it resolved). */
async function rejection(p: () => Promise<unknown>): Promise<{ ms: number; name?: string; message?: string; unavailable?: boolean }> {
  const t0 = performance.now();
  try {
    await p();
    return { ms: performance.now() - t0 };
  } catch (e) {
    const err = e as Error;
    return { ms: Math.round(performance.now() - t0), name: err.name, message: err.message, unavailable: err instanceof KeyBackendUnavailableError };
  }
}

/**
 * Checks a request's SigV4 Authorization header by recomputing it (AWS's documented algorithm,
 * written here with node:crypto, not the library the backend signs with): local-kms does not
 * check signatures, so this is what shows the backend's Sign request would be accepted by KMS.
 */
function checkSigV4(method: string, path: string, headers: IncomingHttpHeaders, body: Buffer, secret: string) {
  const auth = String(headers.authorization ?? "");
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { valid: false, why: `not a SigV4 Authorization header: ${auth.slice(0, 40)}` };
  const [, accessKeyId, date, region, service, signedHeaders, signature] = m as unknown as string[];
  const sha256 = (b: string | Buffer) => createHash("sha256").update(b).digest("hex");
  const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();
  const names = signedHeaders!.split(";");
  const canonicalHeaders = names.map((n) => `${n}:${String(headers[n] ?? "").trim().replace(/\s+/g, " ")}\n`).join("");
  const canonicalRequest = [method, path, "", canonicalHeaders, signedHeaders, sha256(body)].join("\n");
  const amzDate = String(headers["x-amz-date"]);
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonicalRequest)].join("\n");
  const key = hmac(hmac(hmac(hmac("AWS4" + secret, date!), region!), service!), "aws4_request");
  return { valid: hmac(key, stringToSign).toString("hex") === signature, accessKeyId, region, service, signedHeaders: names, dateMatches: amzDate.startsWith(date!) };
}

const signAll = async (backend: KeyBackend, messages: Uint8Array[]) => {
  const out: { message: string; r: string; s: string }[] = [];
  for (const m of messages) {
    const { r, s } = await backend.signDigest!(personalMessageHash(m));
    out.push({ message: hex(m), r: r.toString(16), s: s.toString(16) });
  }
  return out;
};

/**
 * A whole signer on the KMS key (startSigner with the -awsKms* flags, against a dev chain in this
 * process): a legacy and a Connect session paid and checked by e2e-session.ts, local-kms killed
 * mid-session (both calls unavailable with nothing returned, /readyz 503), restarted (/readyz
 * 200 with the same signer, the same sessions continue exactly), one winning ticket redeemed;
 * then the start-up failures. Every log line, error body, /readyz and /metrics text is grepped
 * for the secret access key.
 */
async function endToEnd(address: string) {
  const secret = env("AWS_SECRET_ACCESS_KEY");
  const timings: Record<string, number> = {};
  let t = performance.now();
  const lap = (name: string) => {
    timings[name] = Math.round(performance.now() - t);
    t = performance.now();
  };
  const chain = await startDevChain({ port: 0 });
  await chain.fundSender({ address });
  lap("devChain");
  const args = (keyId: string, ...extra: string[]) => [
    "-ethUrl", chain.url, "-ethController", chain.controllerAddress, "-httpAddr", "127.0.0.1:0",
    "-awsKmsKeyId", keyId, "-awsKmsRegion", REGION, "-awsKmsEndpoint", endpoint, "-keyTimeout", `${TIMEOUT_MS}ms`,
    ...extra,
  ];
  const flags = (keyId: string, ...extra: string[]) => parseFlags(args(keyId, ...extra))!;
  const log = capturedLogger();
  const texts: Record<string, string> = {};
  let signer: RunningSigner | undefined;
  try {
    signer = await startSigner(flags("alias/lpsigner-test", "-ethAcctAddr", address), log.logger);
    if (signer.address !== address) throw new Error(`the signer's address ${signer.address} is not the KMS key's ${address}`);
    lap("startSigner");
    // local-kms killed mid-session, then started again on the same data.
    const run = await sessionThroughOutage({ url: signer.url, address: signer.address, chain }, {
      stop: () => stopKms(kms),
      start: async () => void (kms = await startKms()),
    });
    Object.assign(timings, run.timings);
    t = performance.now();
    texts.outageBodies = run.outageBodies.join("\n");
    texts.readyz = run.notReady.body + run.readyAgain.body;
    texts.metrics = run.metrics;

    // Start-up failures: one line each, and the real binary exits non-zero with one stderr line.
    const wrong = checksumAddress(new Uint8Array(20).fill(0x11));
    const wrongAddress = await rejection(() => startSigner(flags("alias/lpsigner-test", "-ethAcctAddr", wrong), log.logger));
    const missing = "11111111-2222-3333-4444-555555555555";
    const missingKey = await rejection(() => startSigner(flags(missing), log.logger));
    lap("startupFailures");
    const bin = await runSignerBinary(args(missing), process.env);
    lap("binary");
    texts.startupErrors = [wrongAddress.message, missingKey.message, bin.stderr, bin.stdout].join("\n");
    texts.log = log.text();
    assertNoSecret(texts, { AWS_SECRET_ACCESS_KEY: secret });
    return {
      address,
      signerAddress: signer.address,
      summary: run.summary,
      redeemed: run.summary.redeemed,
      outageBodies: run.outageBodies,
      readyz: { notReady: run.notReady, readyAgain: run.readyAgain },
      wrongAddress,
      missingKey,
      binary: bin,
      logLines: texts.log.split("\n").filter(Boolean).length,
      metricsBytes: texts.metrics.length,
      timings,
    };
  } finally {
    await signer?.close();
    await chain.close();
  }
}

const result: Record<string, unknown> = { interfaces: Object.keys(networkInterfaces()) };
let kms = await startKms();
const admin = new KMSClient({ region: REGION, endpoint });
try {
  const created = await admin.send(new CreateKeyCommand({ KeySpec: "ECC_SECG_P256K1", KeyUsage: "SIGN_VERIFY", Description: "lpsigner test" }));
  const keyId = created.KeyMetadata!.KeyId!;
  result.keyId = keyId;
  await admin.send(new CreateAliasCommand({ AliasName: "alias/lpsigner-test", TargetKeyId: keyId }));
  const p256 = await admin.send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" }));
  const disabled = await admin.send(new CreateKeyCommand({ KeySpec: "ECC_SECG_P256K1", KeyUsage: "SIGN_VERIFY" }));
  await admin.send(new DisableKeyCommand({ KeyId: disabled.KeyMetadata!.KeyId! }));

  // Opened by alias: the operator's -awsKmsKeyId may be an id, an ARN or an alias.
  const backend = await openKmsBackend({ keyId: "alias/lpsigner-test", region: REGION, endpoint, timeoutMs: TIMEOUT_MS });
  result.publicKey = hex(await backend.publicKey());
  await backend.check();
  const messages = env("MESSAGES").split(",").map((m) => Buffer.from(m, "hex"));
  result.signatures = await signAll(backend, messages);

  // Latency over LATENCY_N signatures on one kept-alive connection.
  const n = Number(env("LATENCY_N"));
  const times: number[] = [];
  const digest = personalMessageHash(Buffer.from("latency"));
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await backend.signDigest!(digest);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => +times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(2);
  result.latency = { n, p50: q(0.5), p99: q(0.99), max: q(1) };

  // Outage 1: local-kms frozen (connections accepted, nothing answered): bounded by the timeout.
  kms.kill("SIGSTOP");
  await stoppedState(kms.pid!);
  result.frozen = await rejection(() => backend.signDigest!(digest));
  kms.kill("SIGCONT");
  result.afterFrozen = await signAll(backend, messages.slice(0, 1));
  // Outage 2: local-kms gone (connection refused), then back on the same data.
  await stopKms(kms);
  result.stopped = await rejection(() => backend.signDigest!(digest));
  result.stoppedCheck = await rejection(() => backend.check());
  kms = await startKms();
  result.restarted = await signAll(backend, messages);
  await backend.close();

  // What the payment code uses: the remote signer over a fresh backend (self-test included).
  const remote = await createRemoteEthSigner(await openKmsBackend({ keyId, region: REGION, endpoint, timeoutMs: TIMEOUT_MS }), { timeoutMs: TIMEOUT_MS });
  result.remote = {
    address: remote.addressHex,
    signatures: await Promise.all(messages.map(async (m) => ({ message: hex(m), sig: hex(await remote.signAsync(m)) }))),
    orchestratorInfo: hex(await orchestratorInfoSignature(remote)),
  };
  await remote.close();

  result.e2e = await endToEnd(remote.addressHex).catch((err: Error) => ({ error: err.stack ?? err.message }));

  // Errors when opening.
  const open = (keyId: string, ep = endpoint) => rejection(() => openKmsBackend({ keyId, region: REGION, endpoint: ep, timeoutMs: TIMEOUT_MS }));
  result.missingKey = await open("11111111-2222-3333-4444-555555555555");
  result.wrongSpec = await open(p256.KeyMetadata!.KeyId!);
  result.disabledKey = await open(disabled.KeyMetadata!.KeyId!);
  result.unreachable = await open(keyId, `http://127.0.0.1:${await freePort()}`);
  // KMS error replies to Sign itself (the backend's own request, not the SDK's): a key that was
  // there when the backend opened and is gone (its alias deleted), and one disabled since.
  const later = await admin.send(new CreateKeyCommand({ KeySpec: "ECC_SECG_P256K1", KeyUsage: "SIGN_VERIFY" }));
  const laterId = later.KeyMetadata!.KeyId!;
  await admin.send(new CreateAliasCommand({ AliasName: "alias/lpsigner-gone", TargetKeyId: laterId }));
  const goneBackend = await openKmsBackend({ keyId: "alias/lpsigner-gone", region: REGION, endpoint, timeoutMs: TIMEOUT_MS });
  const disabledBackend = await openKmsBackend({ keyId: laterId, region: REGION, endpoint, timeoutMs: TIMEOUT_MS });
  await admin.send(new DeleteAliasCommand({ AliasName: "alias/lpsigner-gone" }));
  result.signGone = await rejection(() => goneBackend.signDigest!(digest));
  await admin.send(new DisableKeyCommand({ KeyId: laterId }));
  result.signDisabled = await rejection(() => disabledBackend.signDigest!(digest));
  await goneBackend.close();
  await disabledBackend.close();
  // The Sign request as sent, through a loopback proxy in front of local-kms that keeps it, and its SigV4 signature checked.
  const seen: { method: string; path: string; headers: IncomingHttpHeaders; body: Buffer }[] = [];
  const proxy = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, path: req.url!, headers: req.headers, body });
      httpRequest({ host: "127.0.0.1", port, method: req.method, path: req.url, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode!, up.headers);
        up.pipe(res);
      }).end(body);
    });
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  const proxied = await openKmsBackend({ keyId, region: REGION, endpoint: `http://127.0.0.1:${(proxy.address() as { port: number }).port}`, timeoutMs: TIMEOUT_MS });
  await proxied.signDigest!(digest);
  await proxied.close();
  proxy.close();
  const signReq = seen.find((r) => r.headers["x-amz-target"] === "TrentService.Sign")!;
  result.signRequest = {
    path: signReq.path,
    contentType: signReq.headers["content-type"],
    body: JSON.parse(signReq.body.toString()),
    sigv4: checkSigV4(signReq.method, signReq.path, signReq.headers, signReq.body, env("AWS_SECRET_ACCESS_KEY")),
    // The same request checked against another secret: the check can fail.
    sigv4OtherSecret: checkSigV4(signReq.method, signReq.path, signReq.headers, signReq.body, "another secret").valid,
  };
  // No credentials anywhere in the chain (env, files, the instance metadata service).
  const saved = { ...process.env };
  delete process.env.AWS_ACCESS_KEY_ID;
  delete process.env.AWS_SECRET_ACCESS_KEY;
  delete process.env.AWS_SESSION_TOKEN;
  Object.assign(process.env, {
    AWS_SHARED_CREDENTIALS_FILE: join(workdir, "none"),
    AWS_CONFIG_FILE: join(workdir, "none"),
    AWS_EC2_METADATA_DISABLED: "true",
  });
  result.noCredentials = await open(keyId);
  process.env = saved;
} finally {
  admin.destroy();
  await stopKms(kms);
}
process.stdout.write(JSON.stringify(result) + "\n");
// Keep-alive sockets and the log stream: nothing left to wait for.
process.exit(0);
