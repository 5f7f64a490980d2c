/**
 * End to end on a PKCS#11 key: a signer started from flags (-pkcs11Module on SoftHSM2, the PIN from
 * a file) against the dev chain pays a legacy and a Connect session (test/keys/support/e2e-session.ts:
 * every ticket verified as the orchestrator does, exact fees and credit, a winning ticket
 * redeemed on TicketBroker); the token goes away mid-session (its directory moved, as an HSM
 * unplugged) and comes back; a wrong PIN, a missing key and a wrong -ethAcctAddr stop start-up
 * with one line; the PIN and the key appear in no log line, error body or metric.
 */
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { secp256k1 } from "@noble/curves/secp256k1";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseFlags } from "../../src/config.js";
import { createEthSigner } from "../../src/crypto/eth-sign.js";
import { startDevChain, type DevChain } from "../../src/dev-chain/dev-chain.js";
import { startSigner, type RunningSigner } from "../../src/start-signer.js";
import { assertNoSecret, capturedLogger, LEGACY_UNAVAILABLE_BODY, runSignerBinary, sessionThroughOutage } from "./support/e2e-session.js";
import { createSoftHsm, softhsmMissing, SOFTHSM_MODULE, type SoftHsm } from "./support/pkcs11-softhsm.js";

const missing = softhsmMissing();
if (missing) console.warn(`SKIPPED: the PKCS#11 end-to-end test needs ${missing}`);

const TOKEN = "lpsigner-e2e";
// Random per run, so the grep cannot pass by accident.
const PIN = `e2e-${Buffer.from(secp256k1.utils.randomPrivateKey().subarray(0, 6)).toString("hex")}`;
const WRONG_PIN = `wrong-${Buffer.from(secp256k1.utils.randomPrivateKey().subarray(0, 6)).toString("hex")}`;
const key = secp256k1.utils.randomPrivateKey();
const address = createEthSigner(key).addressHex;

describe.skipIf(missing !== undefined)("PKCS#11 (SoftHSM2) end to end: a signer on the token key", () => {
  let hsm: SoftHsm;
  let chain: DevChain;
  let signer: RunningSigner | undefined;
  let pinFile: string;
  let wrongPinFile: string;
  const log = capturedLogger();
  /** Everything an operator or a gateway could see, grepped for the PIN and the key at the end. */
  const seen: Record<string, string> = {};
  const args = (o: { pinFile?: string; keyLabel?: string; ethAcctAddr?: string } = {}) => [
    "-ethUrl", chain.url, "-ethController", chain.controllerAddress, "-httpAddr", "127.0.0.1:0",
    "-pkcs11Module", SOFTHSM_MODULE, "-pkcs11TokenLabel", TOKEN, "-pkcs11KeyLabel", o.keyLabel ?? "signer",
    ...(o.pinFile ? ["-pkcs11PinFile", o.pinFile] : []),
    "-ethAcctAddr", o.ethAcctAddr ?? address, "-keyTimeout", "2s",
    // Its own data directory (the event outbox lives there), not the machine's ~/.lpData.
    "-dataDir", hsm.dir,
  ];
  const startError = (o: Parameters<typeof args>[0]) =>
    startSigner(parseFlags(args(o))!, log.logger).then(
      async (s) => {
        await s.close();
        return "started";
      },
      (e: Error) => e.message,
    );

  beforeAll(async () => {
    hsm = createSoftHsm(TOKEN, PIN);
    hsm.importKey(key, "signer", "01");
    pinFile = join(hsm.dir, "pin");
    writeFileSync(pinFile, `${PIN}\n`, { mode: 0o600 });
    wrongPinFile = join(hsm.dir, "wrong-pin");
    writeFileSync(wrongPinFile, `${WRONG_PIN}\n`, { mode: 0o600 });
    chain = await startDevChain({ port: 0 });
    await chain.fundSender({ address });
  }, 30_000);

  afterAll(async () => {
    await signer?.close();
    await chain?.close();
    hsm?.remove();
  });

  // First: SoftHSM2 checks a PIN only while no session of this process is logged in.
  test("a wrong PIN, a missing key, a wrong -ethAcctAddr: start-up fails with one clear line; the binary exits non-zero with one stderr line", async () => {
    const t0 = performance.now();
    const wrongPin = await startError({ pinFile: wrongPinFile });
    expect(wrongPin).toBe(`pkcs11 key backend: login to token "${TOKEN}" refused: wrong PIN (CKR_PIN_INCORRECT)`);
    const missingKey = await startError({ pinFile, keyLabel: "nope" });
    expect(missingKey).toBe(`pkcs11 key backend: no private key labelled "nope" on token "${TOKEN}"`);
    const other = "0x1111111111111111111111111111111111111111";
    const wrongAddress = await startError({ pinFile, ethAcctAddr: other });
    expect(wrongAddress).toBe(`-ethAcctAddr ${other} is not the pkcs11 key's address (${address})`);
    // The binary, the PIN in LP_PKCS11PIN (no -pkcs11PinFile): a fresh process, so a fresh login.
    const bin = await runSignerBinary(args(), { ...process.env, LP_PKCS11PIN: WRONG_PIN });
    expect(bin.status).not.toBe(0);
    expect(bin.stderr).toBe(`lpsigner: failed to start: ${wrongPin}\n`);
    for (const m of [wrongPin, missingKey, wrongAddress]) expect(m).not.toContain("\n");
    Object.assign(seen, { wrongPin, missingKey, wrongAddress, binStderr: bin.stderr, binStdout: bin.stdout });
    assertNoSecret(seen, { PIN, WRONG_PIN });
    console.log(`PKCS#11 start-up failures: ${Math.round(performance.now() - t0)} ms (binary ${bin.ms} ms)`);
  }, 30_000);

  test("a legacy and a Connect session pay exactly, through a token outage mid-session; a ticket is redeemed on chain; no PIN or key anywhere", async () => {
    const t0 = performance.now();
    signer = await startSigner(parseFlags(args({ pinFile }))!, log.logger);
    expect(signer.address).toBe(address);
    const started = Math.round(performance.now() - t0);
    const away = hsm.tokenDir + ".away";
    try {
      const run = await sessionThroughOutage({ url: signer.url, address, chain }, {
        stop: () => renameSync(hsm.tokenDir, away),
        start: () => renameSync(away, hsm.tokenDir),
      });
      console.log(`PKCS#11 end to end (ms): ${JSON.stringify({ startSigner: started, ...run.timings })}`);
      // 3 calls before the outage and 3 after on each session, a third of a ticket each: 1, 1, 0, 1, 0, 0 tickets.
      for (const s of [run.summary.legacy, run.summary.connect]) {
        expect(s.calls).toBe(6);
        expect(s.nonces).toEqual([1, 2, 3]);
        expect(s.wins).toBe(3);
        expect(s.fees).toBe("2000000000000");
      }
      const r = run.summary.redeemed!;
      expect(BigInt(r.recipientBalanceAfter) - BigInt(r.recipientBalanceBefore)).toBe(1_000_000_000_000n);
      expect(run.outageBodies[0]).toBe(LEGACY_UNAVAILABLE_BODY);
      // The gateway learns the key is unavailable, not where the backend is (its reason is in the signer's log).
      expect(run.outageBodies[1]).toBe("the signing key's backend is unavailable");
      expect(run.notReady.body).toMatch(/pkcs11 key backend/);
      Object.assign(seen, { outage: run.outageBodies.join("\n"), readyz: run.notReady.body + run.readyAgain.body, metrics: run.metrics });
    } finally {
      try {
        renameSync(away, hsm.tokenDir);
      } catch {
        // already back
      }
    }
    seen.log = log.text();
    expect(seen.log).toContain("key backend opened");
    assertNoSecret(seen, { PIN, WRONG_PIN, privateKey: Buffer.from(key).toString("hex") });
  }, 40_000);
});
