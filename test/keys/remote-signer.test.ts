/**
 * The signing port's contract, with an in-process KeyBackend over a known key: whatever form a
 * backend's signature takes (high S, v as 0/1 or 27/28 or absent), lpsigner's bytes are the
 * keystore's; a payment through a remote key carries the same tickets, segment credentials and
 * state bytes as one through the keystore; a backend that fails or hangs makes the call
 * unavailable with nothing returned, and the same session continues once it is back. The real
 * backends (SoftHSM2, local-kms, clef) are in this folder's other files.
 */
import { secp256k1 } from "@noble/curves/secp256k1";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, test } from "vitest";
import { SignerService } from "../../gen/livepeer/signer/v1/signer_pb.js";
import { createEthSigner, personalMessageHash, recoverSigner } from "../../src/crypto/eth-sign.js";
import { createRemoteEthSigner, normalizeSignature } from "../../src/crypto/remote-signer.js";
import { KeyBackendUnavailableError, type KeyBackend } from "../../src/keys/key-backend.js";
import { orchestratorInfo, testDeps } from "../support/fixtures.js";
import { gatewayPaymentBody, paymentRequest, rawRequest, startTestServer, type RunningTestServer } from "../support/net-server.js";

const N = secp256k1.CURVE.n;

/** A backend over `key` in this process; `mode` picks the shape of what it returns. */
function localBackend(key: Uint8Array, mode: "digest-low" | "digest-high" | "personal-01" | "personal-high") {
  let failing: "no" | "reject" | "hang" = "no";
  const fail = () => {
    if (failing === "reject") return Promise.reject(new Error("connection refused"));
    if (failing === "hang") return new Promise<never>(() => {});
    return undefined;
  };
  const sign = (digest: Uint8Array) => {
    const sig = secp256k1.sign(digest, key, { lowS: true });
    const high = mode.endsWith("high");
    return { r: sig.r, s: high ? N - sig.s : sig.s, recovery: high ? 1 - sig.recovery : sig.recovery };
  };
  const backend: KeyBackend = {
    kind: mode.startsWith("digest") ? "pkcs11" : "jsonrpc",
    publicKey: async () => secp256k1.getPublicKey(key, false),
    check: async () => (await fail()) ?? undefined,
    close: async () => {},
    ...(mode.startsWith("digest")
      ? { signDigest: async (digest: Uint8Array) => (await fail()) ?? sign(digest) }
      : {
          signPersonal: async (m: Uint8Array) => {
            await fail();
            const { r, s, recovery } = sign(personalMessageHash(m));
            const out = new Uint8Array(65);
            out.set(Buffer.from(r.toString(16).padStart(64, "0"), "hex"), 0);
            out.set(Buffer.from(s.toString(16).padStart(64, "0"), "hex"), 32);
            out[64] = mode === "personal-01" ? recovery : 27 + recovery;
            return out;
          },
        }),
  };
  return { backend, fail: (how: typeof failing) => void (failing = how) };
}

describe.each(["digest-low", "digest-high", "personal-01", "personal-high"] as const)("a %s backend", (mode) => {
  test("signs what the keystore signs, byte for byte, and recovers under go-livepeer's rules", async () => {
    const key = randomBytes(32);
    const local = createEthSigner(key);
    const remote = await createRemoteEthSigner(localBackend(key, mode).backend, { timeoutMs: 1000 });
    expect(remote.addressHex).toBe(local.addressHex);
    for (let i = 0; i < 20; i++) {
      const m = randomBytes(i === 0 ? 0 : i * 7);
      const sig = await remote.signAsync(m);
      expect(Buffer.from(sig).toString("hex")).toBe(Buffer.from(local.sign(m)).toString("hex"));
      expect(recoverSigner(m, sig)).toEqual(local.address);
    }
  });
});

test("normalizeSignature refuses r or s out of range and a signature of another key", () => {
  const key = randomBytes(32);
  const digest = randomBytes(32);
  const pub = secp256k1.getPublicKey(key, false);
  const { r, s } = secp256k1.sign(digest, key);
  expect(normalizeSignature(digest, r, s, pub)).toBeDefined();
  expect(normalizeSignature(digest, 0n, s, pub)).toBeUndefined();
  expect(normalizeSignature(digest, r, N, pub)).toBeUndefined();
  expect(normalizeSignature(digest, r, s, secp256k1.getPublicKey(randomBytes(32), false))).toBeUndefined();
});

test("a backend that refuses or hangs fails as KeyBackendUnavailableError within the timeout", async () => {
  const key = randomBytes(32);
  const b = localBackend(key, "digest-low");
  const remote = await createRemoteEthSigner(b.backend, { timeoutMs: 300 });
  b.fail("reject");
  await expect(remote.signAsync(randomBytes(32))).rejects.toThrow(KeyBackendUnavailableError);
  await expect(remote.check()).rejects.toThrow(/pkcs11 key backend: connection refused/);
  b.fail("hang");
  const started = performance.now();
  await expect(remote.signAsync(randomBytes(32))).rejects.toThrow(/no answer within 300 ms/);
  expect(performance.now() - started).toBeLessThan(1500);
  b.fail("no");
  expect(recoverSigner(new Uint8Array(3), await remote.signAsync(new Uint8Array(3)))).toEqual(createEthSigner(key).address);
});

describe("payments through a remote key", () => {
  const servers: RunningTestServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close(100);
  });

  test("the same tickets, segment credentials and state bytes as the keystore's; an outage is unavailable with nothing returned, and the session continues after it", async () => {
    const key = randomBytes(32);
    const b = localBackend(key, "digest-high");
    const remote = await createRemoteEthSigner(b.backend, { timeoutMs: 500 });
    // The same session id on both: it is random otherwise, and it is in the signed state.
    const viaRemote = testDeps({ signer: remote, randomId: () => "0badc0de" });
    const viaKeystore = testDeps({ signer: createEthSigner(key), randomId: () => "0badc0de" });
    const [r, k] = [await startTestServer({ deps: viaRemote }), await startTestServer({ deps: viaKeystore })];
    servers.push(r, k);
    const info = orchestratorInfo();
    const pay = async (srv: RunningTestServer, state?: { State: string; Sig: string }) => {
      const res = await rawRequest(`${srv.url}/generate-live-payment`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: gatewayPaymentBody(info, { manifestId: "remote-m", ...(state ? { state } : {}) }),
      });
      return { status: res.status, body: res.body, json: res.status === 200 ? (JSON.parse(res.body) as { state: { State: string; Sig: string } }) : undefined };
    };
    // First call, then a continuing one, 10 s apart on both signers' clocks.
    const first = [await pay(r), await pay(k)];
    expect(first.map((x) => x.status)).toEqual([200, 200]);
    expect(first[0]!.body).toBe(first[1]!.body);
    viaRemote.clock.advance(10);
    viaKeystore.clock.advance(10);

    // The backend goes away: 503, nothing signed or returned; the session's state is unchanged.
    b.fail("reject");
    const down = await pay(r, first[0]!.json!.state);
    expect(down.status).toBe(503);
    expect(down.body).toBe('{"error":{"message":"Service Unavailable Error"}}\n');
    const connect = createClient(SignerService, createConnectTransport({ baseUrl: r.url, httpVersion: "1.1" }));
    const err = await connect.generateLivePayment(paymentRequest(info, { manifestId: "other" })).then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.Unavailable);
    b.fail("hang");
    expect((await pay(r, first[0]!.json!.state)).status).toBe(503);

    // Back: the same state continues, and pays exactly what the keystore signer pays.
    b.fail("no");
    const next = [await pay(r, first[0]!.json!.state), await pay(k, first[1]!.json!.state)];
    expect(next.map((x) => x.status)).toEqual([200, 200]);
    expect(next[0]!.body).toBe(next[1]!.body);
  });
});
