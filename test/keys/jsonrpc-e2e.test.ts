/**
 * End to end on a key held by a JSON-RPC signer: a signer started from flags (-ethSignerUrl to a
 * real clef with an imported keystore, given with basic-auth credentials through LP_ETHSIGNERURL
 * as an operator would) against the dev chain pays a legacy and a Connect session
 * (test/keys/support/e2e-session.ts: every ticket verified as the orchestrator does, exact fees
 * and credit, a winning ticket redeemed on TicketBroker); clef is killed mid-session and
 * started again; an account clef does not hold (a wrong -ethAcctAddr) and an unreachable signer
 * stop start-up with one line; the URL's password and the key appear in no log line, error body
 * or metric.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseFlags } from "../../src/config.js";
import { createEthSigner } from "../../src/crypto/eth-sign.js";
import { startDevChain, type DevChain } from "../../src/dev-chain/dev-chain.js";
import { startSigner, type RunningSigner } from "../../src/start-signer.js";
import { CLEF_VERSION, clefAvailable, setupClef, type Clef } from "./support/clef-harness.js";
import { assertNoSecret, capturedLogger, LEGACY_UNAVAILABLE_BODY, runSignerBinary, sessionThroughOutage } from "./support/e2e-session.js";

const hasClef = clefAvailable();
if (!hasClef) console.warn(`SKIPPED: the JSON-RPC end-to-end test needs go-ethereum's clef ${CLEF_VERSION}: run test/keys/support/clef-build.sh`);

const key = randomBytes(32);
const address = createEthSigner(key).addressHex;
// Basic auth in the URL (clef ignores it; lpsigner must send it and never show it). Random per run.
const PASSWORD = `pw-${randomBytes(8).toString("hex")}`;

describe.skipIf(!hasClef)(`JSON-RPC signer (clef ${CLEF_VERSION}) end to end: a signer on clef's key`, () => {
  let clef: Clef;
  let chain: DevChain;
  let signer: RunningSigner | undefined;
  const log = capturedLogger();
  const seen: Record<string, string> = {};
  const signerUrl = () => {
    const u = new URL(clef.url);
    u.username = "lpsigner";
    u.password = PASSWORD;
    return u.toString();
  };
  const args = (ethAcctAddr = address) => [
    "-ethUrl", chain.url, "-ethController", chain.controllerAddress, "-httpAddr", "127.0.0.1:0",
    "-ethAcctAddr", ethAcctAddr, "-keyTimeout", "2s",
  ];
  /** The URL with its password from the environment, as -ethSignerUrl's help says. */
  const env = () => ({ ...process.env, LP_ETHSIGNERURL: signerUrl() });
  const startError = (ethAcctAddr?: string) =>
    startSigner(parseFlags(args(ethAcctAddr), env())!, log.logger).then(
      async (s) => {
        await s.close();
        return "started";
      },
      (e: Error) => e.message,
    );

  beforeAll(async () => {
    [clef, chain] = await Promise.all([setupClef("0x" + key.toString("hex")), startDevChain({ port: 0 })]);
    expect(clef.address).toBe(address);
    await chain.fundSender({ address });
  }, 40_000);

  afterAll(async () => {
    await signer?.close();
    await chain?.close();
    await clef?.dispose();
  });

  test("a legacy and a Connect session pay exactly, through a clef outage mid-session; a ticket is redeemed on chain", async () => {
    const t0 = performance.now();
    signer = await startSigner(parseFlags(args(), env())!, log.logger);
    expect(signer.address).toBe(address);
    const started = Math.round(performance.now() - t0);
    const run = await sessionThroughOutage({ url: signer.url, address, chain }, { stop: () => clef.stop(), start: () => clef.start() });
    console.log(`JSON-RPC (clef) end to end (ms): ${JSON.stringify({ startSigner: started, ...run.timings })}`);
    // 3 calls before the outage and 3 after on each session, a third of a ticket each: 1, 1, 0, 1, 0, 0 tickets.
    for (const s of [run.summary.legacy, run.summary.connect]) {
      expect(s.calls).toBe(6);
      expect(s.nonces).toEqual([1, 2, 3]);
      expect(s.wins).toBe(3);
      expect(s.fees).toBe("2000000000000");
    }
    const r = run.summary.redeemed!;
    expect(BigInt(r.recipientBalanceAfter) - BigInt(r.recipientBalanceBefore)).toBe(1_000_000_000_000n);
    const port = new URL(clef.url).port;
    expect(run.outageBodies[0]).toBe(LEGACY_UNAVAILABLE_BODY);
    // The gateway learns the key is unavailable, not where the backend is (its reason is in the signer's log).
    expect(run.outageBodies[1]).toBe("the signing key's backend is unavailable");
    expect(run.notReady.body).toBe(`cannot sign: JSON-RPC signer http://127.0.0.1:${port}: account_list: connection refused\n`);
    Object.assign(seen, { outage: run.outageBodies.join("\n"), readyz: run.notReady.body + run.readyAgain.body, metrics: run.metrics });
  }, 40_000);

  test("an account clef does not hold, an unreachable signer: start-up fails with one clear line; the binary exits non-zero with one stderr line", async () => {
    const t0 = performance.now();
    const port = new URL(clef.url).port;
    const other = "0x1111111111111111111111111111111111111111";
    const wrongAddress = await startError(other);
    expect(wrongAddress).toBe(`JSON-RPC signer http://127.0.0.1:${port}: has no account ${other} (it lists 1)`);
    const bin = await runSignerBinary(args(other), env());
    expect(bin.status).not.toBe(0);
    expect(bin.stderr).toBe(`lpsigner: ${wrongAddress}\n`);
    await clef.stop();
    try {
      const unreachable = await startError();
      expect(unreachable).toBe(`JSON-RPC signer http://127.0.0.1:${port}: account_list: connection refused`);
      seen.unreachable = unreachable;
    } finally {
      await clef.start();
    }
    for (const m of [wrongAddress, seen.unreachable!]) expect(m).not.toContain("\n");
    Object.assign(seen, { wrongAddress, binStderr: bin.stderr, binStdout: bin.stdout });
    console.log(`JSON-RPC start-up failures: ${Math.round(performance.now() - t0)} ms (binary ${bin.ms} ms)`);
  }, 40_000);

  test("the URL's password and the key appear in no log line, error body, /readyz or /metrics", () => {
    seen.log = log.text();
    expect(seen.log).toContain("key backend opened");
    expect(Object.keys(seen)).toEqual(expect.arrayContaining(["outage", "readyz", "metrics", "wrongAddress", "unreachable", "binStderr", "log"]));
    assertNoSecret(seen, {
      PASSWORD,
      basicAuth: Buffer.from(`lpsigner:${PASSWORD}`).toString("base64"),
      privateKey: key.toString("hex"),
    });
  });
});
