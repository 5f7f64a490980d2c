// The Ethereum JSON-RPC signer backend (src/keys/jsonrpc-backend.ts): against a real go-ethereum
// clef for the clef dialect, and against a loopback eth_sign server for Web3Signer's dialect
// (Web3Signer itself is a Java program published in no registry this project can reach).
import { randomBytes } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { secp256k1 } from "@noble/curves/secp256k1";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fromHex, keccak256, toHex, utf8 } from "../../src/crypto/bytes.js";
import { createEthSigner, recoverSigner } from "../../src/crypto/eth-sign.js";
import { createRemoteEthSigner } from "../../src/crypto/remote-signer.js";
import { selfSignedCertificate } from "../../src/dev-orchestrator/self-signed-certificate.js";
import { KeyBackendUnavailableError } from "../../src/keys/key-backend.js";
import { type JsonRpcBackend, openJsonRpcBackend } from "../../src/keys/jsonrpc-backend.js";
import { ORCH_INFO_SIGNATURE, SEG_CREDS, SIGNED_STATE, TEST_ADDRESS, TEST_PRIVATE_KEY } from "../fixtures/spec-vectors.js";
import { CLEF_VERSION, type Clef, clefAvailable, setupClef } from "./support/clef-harness.js";

const hasClef = clefAvailable();
if (!hasClef) console.warn(`SKIPPED: the clef tests need go-ethereum's clef ${CLEF_VERSION}: run test/keys/support/clef-build.sh`);

const key = fromHex(TEST_PRIVATE_KEY);
const keystoreSigner = createEthSigner(key);
const N = secp256k1.CURVE.n;

/** The spec's messages with their golden signatures (VECTORS.md sections 3, 5, 7). */
const VECTORS: { name: string; message: Uint8Array; sig: string }[] = [
  { name: "sign-orchestrator-info", message: keccak256(utf8.encode(TEST_ADDRESS)), sig: ORCH_INFO_SIGNATURE },
  { name: "segment credentials", message: keccak256(fromHex(SEG_CREDS.flatten)), sig: SEG_CREDS.sig },
  { name: "signed state", message: utf8.encode(SIGNED_STATE.json), sig: SIGNED_STATE.sig },
];

/** Test-side normalization (what crypto/remote-signer.ts does): v to 27/28, S to the low half. */
function normalize(sig: Uint8Array): Uint8Array {
  const out = sig.slice();
  let recovery = out[64]! >= 27 ? out[64]! - 27 : out[64]!;
  const s = BigInt("0x" + toHex(out.subarray(32, 64)));
  if (s > N / 2n) {
    out.set(fromHex((N - s).toString(16).padStart(64, "0")), 32);
    recovery ^= 1;
  }
  out[64] = 27 + recovery;
  return out;
}

/** Random messages of assorted lengths, empty included. */
function randomMessages(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => (i === 0 ? new Uint8Array(0) : randomBytes(1 + Math.floor(Math.random() * 600))));
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

describe.skipIf(!hasClef)(`JSON-RPC backend against a real clef ${CLEF_VERSION}`, () => {
  let clef: Clef;
  let backend: JsonRpcBackend;
  const TIMEOUT_MS = 1500;

  beforeAll(async () => {
    clef = await setupClef(TEST_PRIVATE_KEY);
    backend = await openJsonRpcBackend({ url: clef.url, timeoutMs: TIMEOUT_MS });
  }, 60_000);
  afterAll(async () => {
    await backend?.close();
    await clef?.dispose();
  });

  test("detects clef, lists the imported key, recovers its public key from a signature", async () => {
    expect(backend.kind).toBe("jsonrpc");
    expect(backend.dialect).toBe("clef");
    expect(backend.address).toBe(TEST_ADDRESS);
    expect(toHex(await backend.publicKey())).toBe(toHex(secp256k1.getPublicKey(key, false)));
    await backend.check();
  });

  test("spec vectors and random messages: clef's bytes equal the keystore signer's (no normalization needed)", async () => {
    for (const v of VECTORS) {
      const sig = await backend.signPersonal!(v.message);
      // go-ethereum signs RFC 6979 with low S and clef returns v as 27/28: the same bytes as is.
      expect("0x" + toHex(sig), v.name).toBe(v.sig);
      expect(toHex(normalize(sig)), v.name).toBe(toHex(keystoreSigner.sign(v.message)));
    }
    for (const m of randomMessages(30)) {
      const sig = await backend.signPersonal!(m);
      expect(toHex(sig)).toBe(toHex(keystoreSigner.sign(m)));
      expect(toHex(recoverSigner(m, sig)!)).toBe(toHex(keystoreSigner.address));
    }
  });

  test("through createRemoteEthSigner (what the signer uses): the spec's signatures, the keystore's address", async () => {
    const remote = await createRemoteEthSigner(backend, { timeoutMs: TIMEOUT_MS });
    expect(remote.addressHex).toBe(TEST_ADDRESS);
    for (const v of VECTORS) expect("0x" + toHex(await remote.signAsync(v.message)), v.name).toBe(v.sig);
  });

  test("latency over 200 sequential signatures (printed), all correct", async () => {
    const times: number[] = [];
    for (const m of randomMessages(200)) {
      const t0 = performance.now();
      const sig = await backend.signPersonal!(m);
      times.push(performance.now() - t0);
      expect(toHex(sig)).toBe(toHex(keystoreSigner.sign(m)));
    }
    times.sort((a, b) => a - b);
    // clef decrypts the keystore file on every signature: this file's scrypt N is 4096 (a
    // standard N=262144 file costs ~1 s per signature on this machine).
    console.log(`clef account_signData (keystore scrypt N=4096): p50 ${percentile(times, 50).toFixed(2)} ms, p99 ${percentile(times, 99).toFixed(2)} ms over 200`);
  });

  test("16 concurrent signatures over the keep-alive agent are all correct", async () => {
    const messages = randomMessages(16);
    const sigs = await Promise.all(messages.map((m) => backend.signPersonal!(m)));
    sigs.forEach((sig, i) => expect(toHex(sig)).toBe(toHex(keystoreSigner.sign(messages[i]!))));
  });

  test("a wrong -ethAcctAddr is a clear error naming the signer without secrets", async () => {
    const other = "0x1111111111111111111111111111111111111111";
    await expect(openJsonRpcBackend({ url: clef.url, address: other, timeoutMs: TIMEOUT_MS })).rejects.toThrow(
      /JSON-RPC signer http:\/\/127\.0\.0\.1:\d+: has no account 0x1111111111111111111111111111111111111111/,
    );
    const same = await openJsonRpcBackend({ url: clef.url, address: TEST_ADDRESS.toLowerCase(), timeoutMs: TIMEOUT_MS });
    expect(same.address).toBe(TEST_ADDRESS);
    await same.close();
  });

  test("outage: clef killed → sign rejects with KeyBackendUnavailableError within the timeout; restarted → the same backend signs again", async () => {
    await clef.stop();
    const m = utf8.encode("during the outage");
    const t0 = performance.now();
    const err = await backend.signPersonal!(m).catch((e: unknown) => e);
    const elapsed = performance.now() - t0;
    expect(err).toBeInstanceOf(KeyBackendUnavailableError);
    expect((err as Error).message).toMatch(/^JSON-RPC signer http:\/\/127\.0\.0\.1:\d+: account_signData: (connection refused|connection reset)/);
    expect(elapsed).toBeLessThan(TIMEOUT_MS + 200);
    await expect(backend.check()).rejects.toBeInstanceOf(KeyBackendUnavailableError);

    await clef.start();
    expect(toHex(await backend.signPersonal!(m))).toBe(toHex(keystoreSigner.sign(m)));
    await backend.check();
  }, 60_000);
});

/**
 * A Web3Signer stand-in: eth_accounts and eth_sign (EIP-191 personal message, v 27/28, as
 * Web3Signer's eth1 mode answers), the test key signing; other methods are "method not found",
 * as Web3Signer's downstream node answers clef's account_list. Optional basic auth.
 */
function web3SignerHandler(opts: { basicAuth?: string; hang?: () => boolean }) {
  const signer = createEthSigner(key);
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (opts.basicAuth && req.headers.authorization !== `Basic ${Buffer.from(opts.basicAuth).toString("base64")}`) {
        res.writeHead(401, { "www-authenticate": "Basic" }).end();
        return;
      }
      const { id, method, params } = JSON.parse(Buffer.concat(chunks).toString()) as { id: number; method: string; params: string[] };
      const answer = (body: object): void => {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", id, ...body }));
      };
      if (method === "eth_accounts") return answer({ result: [signer.addressHex.toLowerCase()] });
      if (method === "eth_sign") {
        if (opts.hang?.()) return; // never answers
        if (params[0]!.toLowerCase() !== signer.addressHex.toLowerCase()) return answer({ error: { code: -32000, message: "unknown account" } });
        return answer({ result: "0x" + toHex(signer.sign(fromHex(params[1]!))) });
      }
      answer({ error: { code: -32601, message: `the method ${method} does not exist/is not available` } });
    });
  };
}

async function listen(server: http.Server | https.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

describe("JSON-RPC backend, Web3Signer dialect (loopback eth_sign server)", () => {
  const PASSWORD = "s3cret-pa55word";
  let hang = false;
  let server: http.Server;
  let port: number;
  const servers: (http.Server | https.Server)[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    server = http.createServer(web3SignerHandler({ basicAuth: `lp:${PASSWORD}`, hang: () => hang }));
    servers.push(server);
    port = await listen(server);
  });
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("basic auth from the URL; detects Web3Signer; signatures equal the keystore signer's", async () => {
    const backend = await openJsonRpcBackend({ url: `http://lp:${PASSWORD}@127.0.0.1:${port}/`, timeoutMs: 2000 });
    try {
      expect(backend.dialect).toBe("web3signer");
      expect(backend.address).toBe(TEST_ADDRESS);
      expect(toHex(await backend.publicKey())).toBe(toHex(secp256k1.getPublicKey(key, false)));
      for (const v of VECTORS) expect("0x" + toHex(await backend.signPersonal!(v.message)), v.name).toBe(v.sig);
      for (const m of randomMessages(20)) expect(toHex(await backend.signPersonal!(m))).toBe(toHex(keystoreSigner.sign(m)));
      await backend.check();
    } finally {
      await backend.close();
    }
  });

  test("wrong credentials: KeyBackendUnavailableError naming scheme://host:port, never the password", async () => {
    const err = await openJsonRpcBackend({ url: `http://lp:wrong-${PASSWORD}@127.0.0.1:${port}/`, timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyBackendUnavailableError);
    expect((err as Error).message).toBe(`JSON-RPC signer http://127.0.0.1:${port}: account_list: credentials refused (HTTP 401)`);
    expect(String((err as Error).stack)).not.toContain(PASSWORD);
  });

  test("a signer that stops answering: sign rejects with KeyBackendUnavailableError at the timeout, then signs again", async () => {
    const backend = await openJsonRpcBackend({ url: `http://lp:${PASSWORD}@127.0.0.1:${port}/`, timeoutMs: 300 });
    try {
      hang = true;
      const t0 = performance.now();
      const err = await backend.signPersonal!(utf8.encode("hang")).catch((e: unknown) => e);
      const elapsed = performance.now() - t0;
      expect(err).toBeInstanceOf(KeyBackendUnavailableError);
      expect((err as Error).message).toBe(`JSON-RPC signer http://127.0.0.1:${port}: eth_sign: no answer within 300 ms`);
      expect(elapsed).toBeGreaterThanOrEqual(290);
      expect(elapsed).toBeLessThan(800);
      hang = false;
      const m = utf8.encode("after");
      expect(toHex(await backend.signPersonal!(m))).toBe(toHex(keystoreSigner.sign(m)));
    } finally {
      hang = false;
      await backend.close();
    }
  });

  test("unreachable at open: KeyBackendUnavailableError, connection refused, no password", async () => {
    const closed = http.createServer();
    const closedPort = await listen(closed);
    await new Promise((r) => closed.close(r));
    const err = await openJsonRpcBackend({ url: `http://lp:${PASSWORD}@127.0.0.1:${closedPort}`, timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyBackendUnavailableError);
    expect((err as Error).message).toBe(`JSON-RPC signer http://127.0.0.1:${closedPort}: account_list: connection refused`);
  });

  test("https with a client certificate and a CA file; without the client certificate the handshake fails", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lpsigner-jsonrpc-tls-"));
    dirs.push(dir);
    const serverCert = await selfSignedCertificate("127.0.0.1");
    const clientCert = await selfSignedCertificate("lpsigner-client");
    const file = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const tls = https.createServer(
      { cert: serverCert.cert, key: serverCert.key, ca: clientCert.cert, requestCert: true, rejectUnauthorized: true },
      web3SignerHandler({}),
    );
    servers.push(tls);
    const tlsPort = await listen(tls);
    const url = `https://127.0.0.1:${tlsPort}/`;
    const ca = file("ca.pem", serverCert.cert);
    const backend = await openJsonRpcBackend({ url, ca, tlsCert: file("client.pem", clientCert.cert), tlsKey: file("client.key", clientCert.key), timeoutMs: 2000 });
    try {
      expect(backend.dialect).toBe("web3signer");
      const m = utf8.encode("over mutual TLS");
      expect(toHex(await backend.signPersonal!(m))).toBe(toHex(keystoreSigner.sign(m)));
    } finally {
      await backend.close();
    }
    const err = await openJsonRpcBackend({ url, ca, timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyBackendUnavailableError);
    expect((err as Error).message).toMatch(new RegExp(`^JSON-RPC signer https://127\\.0\\.0\\.1:${tlsPort}: account_list: `));
  });

  test("configuration mistakes are clear one-line errors", async () => {
    await expect(openJsonRpcBackend({ url: "ftp://127.0.0.1/", timeoutMs: 100 })).rejects.toThrow("-ethSignerUrl: must be http or https, not ftp:");
    await expect(openJsonRpcBackend({ url: `http://127.0.0.1:${port}/`, tlsCert: "/nonexistent.pem", timeoutMs: 100 })).rejects.toThrow(
      "-ethSignerTlsCert and -ethSignerTlsKey go together",
    );
    await expect(openJsonRpcBackend({ url: `https://127.0.0.1:${port}/`, ca: "/nonexistent/ca.pem", timeoutMs: 100 })).rejects.toThrow(
      "-ethSignerCa: cannot read /nonexistent/ca.pem: ENOENT",
    );
  });
});
