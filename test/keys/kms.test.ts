/**
 * The AWS KMS backend against a real KMS emulator, local-kms (github.com/nsmithuk/local-kms, built
 * into .tools/bin by .ci/run), which signs DIGEST messages with ECC_SECG_P256K1 keys. local-kms
 * listens on every interface, so it runs in a network namespace of its own with only loopback
 * up (unshare), and so does the client: test/keys/support/kms-driver.ts runs there and prints
 * what it saw as JSON, checked here.
 *
 * The key is generated in local-kms: it cannot import secp256k1 key material (its seed file
 * parser takes NIST curves only, and ImportKeyMaterial AES keys only). So the check is by
 * recovery: every signature, made low-S with v found by recovery, must recover under go-livepeer's
 * rules (recoverSigner) to the address of the key's public key (GetPublicKey). KMS signatures are
 * randomized, so they cannot be byte-equal to the keystore's RFC 6979 ones; the normalization
 * itself is checked byte-equal against the keystore signer below.
 *
 * The driver also runs a whole signer on the key end to end (startSigner with the -awsKms* flags
 * on a dev chain, test/keys/support/e2e-session.ts), through local-kms killed mid-session.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { secp256k1 } from "@noble/curves/secp256k1";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { keccak256 } from "../../src/crypto/bytes.js";
import { createEthSigner, personalMessageHash, publicKeyToAddress, recoverSigner } from "../../src/crypto/eth-sign.js";
import { spkiToUncompressed } from "../../src/keys/kms-backend.js";
import { BATCH, SEG_CREDS, SIGNED_STATE, TEST_ADDRESS, TEST_PRIVATE_KEY } from "../fixtures/spec-vectors.js";

const localKms = new URL("../../.tools/bin/local-kms", import.meta.url).pathname;
const ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].find((p) => existsSync(p));
const unshare = ["/usr/bin/unshare", "/bin/unshare"].find((p) => existsSync(p));
/** Whether this user may create a network namespace (root, or unprivileged user namespaces enabled). */
const canUnshare = () => spawnSync(unshare!, ["--net", "--map-root-user", "true"]).status === 0;
const missing = !existsSync(localKms)
  ? "local-kms (.ci/run builds it into .tools/bin)"
  : !ip
    ? "ip (apt-get install iproute2)"
    : !unshare
      ? "unshare (util-linux)"
      : !canUnshare()
        ? "a network namespace (unshare --net --map-root-user failed: run as root or enable user namespaces)"
        : undefined;
if (missing) console.warn(`SKIPPED: the AWS KMS backend test needs ${missing}`);

const N = secp256k1.CURVE.n;
const hexBytes = (h: string) => Buffer.from(h.replace(/^0x/, ""), "hex");
const toHex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString("hex") : b);

/** What crypto/remote-signer.ts does to a backend's {r, s}: low S, v by recovery against the public key. */
function normalize(r: bigint, s: bigint, digest: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const low = s > N / 2n ? N - s : s;
  for (const recovery of [0, 1]) {
    const sig = new secp256k1.Signature(r, low).addRecoveryBit(recovery);
    if (Buffer.from(sig.recoverPublicKey(digest).toRawBytes(false)).equals(publicKey)) {
      return Uint8Array.from([...sig.toCompactRawBytes(), 27 + recovery]);
    }
  }
  throw new Error("no recovery id gives the public key");
}

test("the normalization gives the keystore's bytes from a high-S signature of the same key and nonce", () => {
  const key = hexBytes(TEST_PRIVATE_KEY);
  const publicKey = secp256k1.getPublicKey(key, false);
  const keystore = createEthSigner(key);
  for (const m of [hexBytes(BATCH.tickets[0]!.hash), Buffer.from(SIGNED_STATE.json), Buffer.from("x")]) {
    const digest = personalMessageHash(m);
    const sig = secp256k1.sign(digest, key, { lowS: true });
    // As an HSM may answer: the same r with the high S.
    expect(toHex(normalize(sig.r, N - sig.s, digest, publicKey))).toBe(toHex(keystore.sign(m)));
    expect(toHex(normalize(sig.r, sig.s, digest, publicKey))).toBe(toHex(keystore.sign(m)));
  }
});

describe.skipIf(!!missing)("AWS KMS backend against local-kms, in a loopback-only network namespace", () => {
  // The spec's signed messages (their keystore signatures checked first) and random ones.
  const vectors: [Uint8Array, string][] = [
    ...BATCH.tickets.map((t) => [hexBytes(t.hash), t.sig] as [Uint8Array, string]),
    [hexBytes(SEG_CREDS.flattenHash), SEG_CREDS.sig],
    [Buffer.from(SIGNED_STATE.json), SIGNED_STATE.sig],
  ];
  const random = Array.from({ length: 20 }, (_, i) => secp256k1.utils.randomPrivateKey().subarray(0, 1 + i));
  const messages = [...vectors.map(([m]) => m), ...random];
  // Given to the SDK as credentials: local-kms does not check them, but no error may quote them.
  const secret = "lpsignerTestSecret/" + Buffer.from(secp256k1.utils.randomPrivateKey()).toString("base64url");
  let workdir: string;
  // The driver's JSON (test/keys/support/kms-driver.ts).
  let out: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  let stderr = "";

  beforeAll(async () => {
    workdir = mkdtempSync(join(tmpdir(), "lpsigner-kms-"));
    // A new network namespace with only loopback up: local-kms's 0.0.0.0 listener is reachable from nowhere else.
    const child = spawn(unshare!, ["--net", "--map-root-user", "sh", "-c", `${ip} link set lo up && exec "$0" --import tsx test/keys/support/kms-driver.ts`, process.execPath], {
      env: {
        PATH: process.env.PATH,
        HOME: workdir,
        LOCAL_KMS: localKms,
        KMS_WORKDIR: workdir,
        MESSAGES: messages.map((m) => Buffer.from(m).toString("hex")).join(","),
        LATENCY_N: "200",
        AWS_ACCESS_KEY_ID: "AKIALPSIGNERTEST",
        AWS_SECRET_ACCESS_KEY: secret,
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    const code = await new Promise((done) => child.on("close", done));
    clearTimeout(timer);
    const logFile = join(workdir, "local-kms.log");
    const kmsLog = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-2000) : "";
    if (code !== 0) throw new Error(`the driver exited with ${code}:\n${stderr}\nlocal-kms:\n${kmsLog}`);
    out = JSON.parse(stdout);
  }, 120_000);

  afterAll(() => {
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  test("runs with loopback only", () => {
    expect(out.interfaces).toEqual(["lo"]);
  });

  test("every signature recovers, under go-livepeer's rules, to the address of the key's public key", () => {
    for (const [m, sig] of vectors) expect(toHex(recoverSigner(m, hexBytes(sig)))).toBe(TEST_ADDRESS.slice(2).toLowerCase());
    const publicKey = hexBytes(out.publicKey);
    expect(publicKey.length).toBe(65);
    const address = toHex(publicKeyToAddress(publicKey));
    for (const batch of ["signatures", "afterFrozen", "restarted"]) {
      const sigs = out[batch] as { message: string; r: string; s: string }[];
      expect(sigs.length, batch).toBeGreaterThan(0);
      for (const { message, r, s } of sigs) {
        const m = hexBytes(message);
        const sig = normalize(BigInt("0x" + r), BigInt("0x" + s), personalMessageHash(m), publicKey);
        expect(toHex(recoverSigner(m, sig)), `${batch} ${message}`).toBe(address);
        expect(secp256k1.verify(sig.subarray(0, 64), personalMessageHash(m), publicKey)).toBe(true);
      }
    }
    expect(out.signatures.map((s: { message: string }) => s.message)).toEqual(messages.map((m) => Buffer.from(m).toString("hex")));
    // KMS's nonces are random: the same message signed twice gives two different signatures.
    expect(out.restarted[0].r).not.toBe(out.signatures[0].r);
  });

  test("through createRemoteEthSigner (signatures made at once): 65 bytes that recover to the key's address, orchestrator info too", () => {
    const address = publicKeyToAddress(hexBytes(out.publicKey));
    expect(out.remote.address.toLowerCase()).toBe("0x" + toHex(address));
    expect(out.remote.signatures.length).toBe(messages.length);
    for (const { message, sig } of out.remote.signatures as { message: string; sig: string }[]) {
      expect(sig.length).toBe(130);
      expect(toHex(recoverSigner(hexBytes(message), hexBytes(sig))), message).toBe(toHex(address));
    }
    const orchMessage = keccak256(Buffer.from(out.remote.address));
    expect(toHex(recoverSigner(orchMessage, hexBytes(out.remote.orchestratorInfo)))).toBe(toHex(address));
  });

  test("latency over 200 signatures", () => {
    console.log(`AWS KMS backend (local-kms, loopback): sign p50 ${out.latency.p50} ms, p99 ${out.latency.p99} ms, max ${out.latency.max} ms over ${out.latency.n}`);
    expect(out.latency.n).toBe(200);
    expect(out.latency.p99).toBeLessThan(1500);
  });

  test("outage: a frozen or stopped KMS rejects with KeyBackendUnavailableError within the timeout; back, it signs again", () => {
    // The driver's timeout is 1500 ms.
    expect(out.frozen).toMatchObject({ unavailable: true, message: "AWS KMS key alias/lpsigner-test: Sign: no answer within 1500 ms" });
    expect(out.frozen.ms).toBeGreaterThanOrEqual(1400);
    expect(out.frozen.ms).toBeLessThan(2500);
    expect(out.stopped.unavailable).toBe(true);
    expect(out.stopped.message).toMatch(/^AWS KMS key alias\/lpsigner-test: Sign: cannot reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/);
    expect(out.stopped.ms).toBeLessThan(2500);
    // A failed signature makes the readiness check ask KMS again, which fails too.
    expect(out.stoppedCheck.unavailable).toBe(true);
    expect(out.stoppedCheck.message).toMatch(/^AWS KMS key alias\/lpsigner-test: DescribeKey: cannot reach/);
    expect(out.restarted.length).toBe(messages.length);
  });

  test("a missing, disabled, wrong-curve or unreachable key, or no credentials: one clear line, no secret", () => {
    expect(out.missingKey.message).toBe("AWS KMS key 11111111-2222-3333-4444-555555555555: GetPublicKey: no such key in this account and region");
    expect(out.disabledKey.message).toMatch(/^AWS KMS key [-0-9a-f]{36}: GetPublicKey: the key is disabled$/);
    expect(out.wrongSpec.message).toMatch(/^AWS KMS key [-0-9a-f]{36}: the key is ECC_NIST_P256, not ECC_SECG_P256K1/);
    expect(out.unreachable.message).toMatch(/^AWS KMS key [-0-9a-f]{36}: GetPublicKey: cannot reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/);
    expect(out.unreachable.ms).toBeLessThan(2500);
    expect(out.noCredentials.message).toMatch(/^AWS KMS key [-0-9a-f]{36}: GetPublicKey: no AWS credentials found/);
    const errors = ["frozen", "stopped", "stoppedCheck", "missingKey", "disabledKey", "wrongSpec", "unreachable", "noCredentials"];
    for (const name of errors) {
      expect(out[name].message, name).not.toContain("\n");
      expect(out[name].message, name).not.toContain(secret);
    }
    expect(JSON.stringify(out)).not.toContain(secret);
    expect(stderr).not.toContain(secret);
  });
  test("a KMS error reply to Sign (the key's alias deleted, the key disabled since opening): one line naming the key, no secret", () => {
    expect(out.signGone).toMatchObject({ unavailable: true, message: "AWS KMS key alias/lpsigner-gone: Sign: no such key in this account and region" });
    expect(out.signDisabled.unavailable).toBe(true);
    expect(out.signDisabled.message).toMatch(/^AWS KMS key [-0-9a-f]{36}: Sign: the key is disabled$/);
    // Answered, not retried until the timeout.
    expect(out.signGone.ms).toBeLessThan(500);
    for (const name of ["signGone", "signDisabled"]) expect(out[name].message, name).not.toContain(secret);
  });
  test("the Sign request is KMS's JSON protocol, SigV4-signed for kms in the region with the given credentials", () => {
    // local-kms does not check signatures: the driver recomputed this one from the secret (kms-driver.ts checkSigV4).
    const r = out.signRequest;
    expect(r.path).toBe("/");
    expect(r.contentType).toBe("application/x-amz-json-1.1");
    expect(r.body).toEqual({ KeyId: out.keyId, Message: Buffer.from(personalMessageHash(Buffer.from("latency"))).toString("base64"), MessageType: "DIGEST", SigningAlgorithm: "ECDSA_SHA_256" });
    expect(r.sigv4).toMatchObject({ valid: true, accessKeyId: "AKIALPSIGNERTEST", region: "eu-west-2", service: "kms", dateMatches: true });
    expect(r.sigv4.signedHeaders).toEqual(expect.arrayContaining(["host", "content-type", "x-amz-date", "x-amz-target"]));
    expect(r.sigv4OtherSecret).toBe(false);
  });
  test("end to end: a signer on the KMS key pays a legacy and a Connect session exactly, survives a KMS outage mid-session, and its ticket is redeemed on chain", () => {
    const e2e = out.e2e;
    expect(e2e.error, "the driver's end-to-end run (test/keys/support/e2e-session.ts)").toBeUndefined();
    console.log(`AWS KMS end to end (ms): ${JSON.stringify(e2e.timings)}`);
    expect(e2e.signerAddress).toBe(out.remote.address);
    // 3 calls before the outage and 3 after, on each session; a third of a ticket per call: 1, 1, 0, 1, 0, 0 tickets.
    for (const via of ["legacy", "connect"]) {
      const s = e2e.summary[via];
      expect(s.calls, via).toBe(6);
      expect(s.nonces, via).toEqual([1, 2, 3]);
      expect(s.wins, via).toBe(3);
      expect(s.fees, via).toBe("2000000000000");
    }
    expect(BigInt(e2e.redeemed.recipientBalanceAfter) - BigInt(e2e.redeemed.recipientBalanceBefore)).toBe(1_000_000_000_000n);
    // The outage: unavailable with nothing returned, on both transports; readiness follows the backend.
    expect(e2e.outageBodies[0]).toBe('{"error":{"message":"Service Unavailable Error"}}\n');
    // The gateway learns the key is unavailable, not where the backend is (its reason is in the signer's log).
    expect(e2e.outageBodies[1]).toBe("the signing key's backend is unavailable");
    expect(e2e.readyz.notReady.body).toMatch(/AWS KMS key alias\/lpsigner-test: DescribeKey: cannot reach/);
    expect(e2e.readyz.notReady.ms).toBeLessThan(5000);
    expect(e2e.readyz.readyAgain.ms).toBeLessThan(5000);
    // Start-up failures: one clear line each.
    expect(e2e.wrongAddress.message).toBe(`-ethAcctAddr 0x1111111111111111111111111111111111111111 is not the kms key's address (${e2e.address})`);
    expect(e2e.missingKey.message).toBe("AWS KMS key 11111111-2222-3333-4444-555555555555: GetPublicKey: no such key in this account and region");
    expect(e2e.binary.status).not.toBe(0);
    expect(e2e.binary.stderr).toBe(`lpsigner: failed to start: ${e2e.missingKey.message}\n`);
    // The driver grepped every log line, error body, /readyz and /metrics for the secret; check here too.
    expect(e2e.logLines).toBeGreaterThan(0);
    expect(e2e.metricsBytes).toBeGreaterThan(0);
    expect(JSON.stringify(e2e)).not.toContain(secret);
  });
});

test("spkiToUncompressed reads a secp256k1 SubjectPublicKeyInfo and refuses another curve", async () => {
  const { generateKeyPairSync } = await import("node:crypto");
  const k1 = generateKeyPairSync("ec", { namedCurve: "secp256k1" });
  const der = k1.publicKey.export({ format: "der", type: "spki" });
  const jwk = k1.publicKey.export({ format: "jwk" });
  const point = spkiToUncompressed(der);
  expect(point[0]).toBe(4);
  expect(Buffer.from(point.subarray(1, 33)).toString("base64url")).toBe(jwk.x);
  const p256 = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey.export({ format: "der", type: "spki" });
  expect(() => spkiToUncompressed(p256)).toThrow("the public key is not on secp256k1 (P-256)");
  expect(() => spkiToUncompressed(new Uint8Array([1, 2, 3]))).toThrow("not a DER SubjectPublicKeyInfo");
});
