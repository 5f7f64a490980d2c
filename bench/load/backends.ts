/**
 * The key backends bench/load.ts can put behind a signer (--backend): each set up for real on
 * this machine (a SoftHSM2 token, local-kms, clef), with its key's address (funded on the dev
 * chain), the signer's flags and environment for it, and a way to time the bare sign call
 * against the component, as the signer's backend client makes it.
 *
 * local-kms listens on every interface: it is only ever started when this process sees no
 * network interface but loopback (load.ts runs the whole bench in such a namespace for kms).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { createEthSigner, personalMessageHash, publicKeyToAddress } from "../../src/crypto/eth-sign.js";
import { checksumAddress } from "../../src/crypto/eth-sign.js";
import type { KeyBackend } from "../../src/keys/key-backend.js";

export const BACKENDS = ["keystore", "pkcs11", "kms", "jsonrpc"] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Backends reached over the network: their targets are in round trips. */
export const NETWORK_BACKENDS: readonly BackendName[] = ["kms", "jsonrpc"];

export interface BackendSetup {
  name: BackendName;
  /** The key's address, checksummed. */
  address: string;
  /** The signer's flags for this key (beyond -ethUrl, -workers…), and its environment. */
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Opens the backend as the signer does (undefined for the keystore: no round trip). */
  open?: () => Promise<KeyBackend>;
  /** What the component is, for the table. */
  component: string;
  close(): Promise<void>;
}

/** One signer's key timeout: long enough that a slow level shows latency, not errors. */
const KEY_TIMEOUT = "10s";
const KEY_TIMEOUT_MS = 10_000;

async function keystore(): Promise<BackendSetup> {
  const key = randomBytes(32); // throwaway, funded on the throwaway chain
  return {
    name: "keystore",
    address: createEthSigner(key).addressHex,
    args: [],
    env: { LPSIGNER_UNSAFE_DEV_PRIVATE_KEY: "0x" + key.toString("hex") },
    component: "in process",
    close: async () => {},
  };
}

async function pkcs11(): Promise<BackendSetup> {
  const { softhsmMissing, createSoftHsm, SOFTHSM_MODULE } = await import("../../test/keys/support/pkcs11-softhsm.js");
  const missing = softhsmMissing();
  if (missing) throw new Error(`needs ${missing}`);
  const pin = randomBytes(6).toString("hex");
  const hsm = createSoftHsm("lpsigner-bench", pin);
  const key = randomBytes(32);
  hsm.importKey(key, "bench", "01");
  const conf = process.env.SOFTHSM2_CONF!;
  const options = { module: SOFTHSM_MODULE, tokenLabel: hsm.tokenLabel, keyLabel: "bench", pin, timeoutMs: KEY_TIMEOUT_MS };
  return {
    name: "pkcs11",
    address: createEthSigner(key).addressHex,
    args: ["-pkcs11Module", SOFTHSM_MODULE, "-pkcs11TokenLabel", hsm.tokenLabel, "-pkcs11KeyLabel", "bench", "-keyTimeout", KEY_TIMEOUT],
    env: { LP_PKCS11PIN: pin, SOFTHSM2_CONF: conf },
    open: async () => (await import("../../src/keys/pkcs11-backend.js")).openPkcs11Backend(options),
    component: "SoftHSM2, file token",
    close: async () => hsm.remove(),
  };
}

const LOCAL_KMS = new URL("../../.tools/bin/local-kms", import.meta.url).pathname;
const KMS_REGION = "eu-west-2";

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
    if (Date.now() > until) throw new Error(`local-kms did not listen on ${port} within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether this process sees loopback only (the only place local-kms may run). */
export const loopbackOnly = () => Object.keys(networkInterfaces()).every((name) => name === "lo");

/** Why the bench cannot make a loopback-only namespace for kms here, or undefined when it can. */
export function kmsMissing(): string | undefined {
  if (!existsSync(LOCAL_KMS)) return "local-kms (.ci/run builds it into .tools/bin)";
  if (loopbackOnly()) return undefined;
  if (!ipTool()) return "ip (apt-get install iproute2)";
  if (!unshareTool()) return "unshare (util-linux)";
  if (spawnSync(unshareTool()!, ["--net", "--map-root-user", "true"]).status !== 0) return "a network namespace (unshare --net --map-root-user failed: run as root or enable user namespaces)";
  return undefined;
}
export const ipTool = () => ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].find((p) => existsSync(p));
export const unshareTool = () => ["/usr/bin/unshare", "/bin/unshare"].find((p) => existsSync(p));

async function kms(): Promise<BackendSetup> {
  if (!loopbackOnly()) throw new Error(`refusing to start local-kms (it listens on every interface) with interfaces ${Object.keys(networkInterfaces()).join(", ")}`);
  if (!existsSync(LOCAL_KMS)) throw new Error("needs local-kms (.ci/run builds it into .tools/bin)");
  const dir = mkdtempSync(join(tmpdir(), "lpsigner-bench-kms-"));
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(LOCAL_KMS, [], {
    env: { PATH: process.env.PATH, PORT: String(port), KMS_REGION, KMS_DATA_PATH: join(dir, "data"), KMS_SEED_PATH: join(dir, "no-seed.yaml") },
    stdio: "ignore",
  });
  const stopKms = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, 20_000);
    // Dummy credentials: local-kms does not check them, the SDK wants some.
    const awsEnv = { AWS_ACCESS_KEY_ID: "AKIALPSIGNERBENCH", AWS_SECRET_ACCESS_KEY: "lpsigner-bench", AWS_EC2_METADATA_DISABLED: "true", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" };
    Object.assign(process.env, awsEnv);
    const { KMSClient, CreateKeyCommand } = await import("@aws-sdk/client-kms");
    const admin = new KMSClient({ region: KMS_REGION, endpoint });
    const created = await admin.send(new CreateKeyCommand({ KeySpec: "ECC_SECG_P256K1", KeyUsage: "SIGN_VERIFY", Description: "lpsigner bench" }));
    admin.destroy();
    const keyId = created.KeyMetadata!.KeyId!;
    const { openKmsBackend } = await import("../../src/keys/kms-backend.js");
    const open = () => openKmsBackend({ keyId, region: KMS_REGION, endpoint, timeoutMs: KEY_TIMEOUT_MS });
    const probe = await open();
    const address = checksumAddress(publicKeyToAddress(await probe.publicKey()));
    await probe.close();
    return {
      name: "kms",
      address,
      args: ["-awsKmsKeyId", keyId, "-awsKmsRegion", KMS_REGION, "-awsKmsEndpoint", endpoint, "-keyTimeout", KEY_TIMEOUT],
      env: awsEnv,
      open,
      component: "local-kms, loopback",
      close: stopKms,
    };
  } catch (err) {
    await stopKms();
    throw err;
  }
}

async function jsonrpc(): Promise<BackendSetup> {
  const { clefAvailable, setupClef } = await import("../../test/keys/support/clef-harness.js");
  if (!clefAvailable()) throw new Error("needs clef (bash test/keys/support/clef-build.sh)");
  const key = "0x" + randomBytes(32).toString("hex");
  // The harness's light scrypt (N=4096): clef decrypts the keystore file on every signature.
  const clef = await setupClef(key);
  const { openJsonRpcBackend } = await import("../../src/keys/jsonrpc-backend.js");
  return {
    name: "jsonrpc",
    address: clef.address,
    args: ["-ethSignerUrl", clef.url, "-ethAcctAddr", clef.address, "-keyTimeout", KEY_TIMEOUT],
    env: {},
    open: () => openJsonRpcBackend({ url: clef.url, address: clef.address, timeoutMs: KEY_TIMEOUT_MS }),
    component: "clef v1.16.9, keystore scrypt N=4096, loopback",
    close: () => clef.dispose(),
  };
}

export function setUpBackend(name: BackendName): Promise<BackendSetup> {
  return { keystore, pkcs11, kms, jsonrpc }[name]();
}

export interface RoundTrip {
  n: number;
  p50: number;
  p99: number;
  /** p50 of two sign calls made at once (as a payment's ticket and state): about p50 when the component serves them in parallel, 2x when it queues them. */
  pairP50: number;
}

/**
 * The bare sign call against the component, one at a time on the backend's own client (as the
 * signer makes it, keep-alive connection included), after a few warm-up calls.
 */
export async function measureRoundTrip(setup: BackendSetup, n = 200): Promise<RoundTrip | undefined> {
  if (!setup.open) return undefined;
  const backend = await setup.open();
  try {
    const message = randomBytes(32);
    const digest = personalMessageHash(message);
    const sign = () => (backend.signDigest ? backend.signDigest(digest) : backend.signPersonal!(message));
    for (let i = 0; i < 10; i++) await sign();
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await sign();
      times.push(performance.now() - t0);
    }
    const pairs: number[] = [];
    for (let i = 0; i < n / 4; i++) {
      const t0 = performance.now();
      await Promise.all([sign(), sign()]);
      pairs.push(performance.now() - t0);
    }
    const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
    return { n, p50: q(times, 0.5), p99: q(times, 0.99), pairP50: q(pairs, 0.5) };
  } finally {
    await backend.close();
  }
}
