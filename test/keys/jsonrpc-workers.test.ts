/**
 * -workers with a remote key: no key bytes go to the workers; each process opens its own
 * backend session (here clef), and payments answered by either worker are verified as the
 * orchestrator does (test/keys/support/e2e-session.ts).
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createEthSigner } from "../../src/crypto/eth-sign.js";
import { startDevChain, type DevChain } from "../../src/dev-chain/dev-chain.js";
import { CLEF_VERSION, clefAvailable, setupClef, type Clef } from "./support/clef-harness.js";
import { spawnSigner, type SignerProcess } from "../support/signer-process.js";
import { openE2eScenario } from "./support/e2e-session.js";

const hasClef = clefAvailable();
if (!hasClef) console.warn(`SKIPPED: the JSON-RPC -workers test needs go-ethereum's clef ${CLEF_VERSION}: run test/keys/support/clef-build.sh`);

const key = randomBytes(32);
const address = createEthSigner(key).addressHex;

describe.skipIf(!hasClef)("-workers 2 on a key held by clef", () => {
  let clef: Clef;
  let chain: DevChain;
  let signer: SignerProcess | undefined;

  beforeAll(async () => {
    [clef, chain] = await Promise.all([setupClef("0x" + key.toString("hex")), startDevChain({ port: 0 })]);
    await chain.fundSender({ address });
  }, 40_000);

  afterAll(async () => {
    signer?.child.kill("SIGKILL");
    await chain?.close();
    await clef?.dispose();
  });

  test("both workers sign through their own clef sessions; every ticket verifies", async () => {
    const flags = ["-ethUrl", chain.url, "-ethController", chain.controllerAddress, "-httpAddr", "127.0.0.1:0"];
    flags.push("-workers", "2", "-ethSignerUrl", clef.url, "-ethAcctAddr", address, "-keyTimeout", "3s");
    signer = await spawnSigner(flags, {}, 60_000);
    const url = signer.url;
    // Connections go to the workers in turn: four scenarios (eight sessions) reach both. Each
    // registers its orchestrator on chain first (one transaction at a time), then all pay at once.
    const scenarios = [];
    for (let i = 0; i < 4; i++) scenarios.push(await openE2eScenario({ url, address, chain }));
    await Promise.all(scenarios.map((s) => s.calls(3)));
    for (const { legacy, connect } of scenarios.map((s) => s.summary())) for (const s of [legacy, connect]) expect(s.calls).toBe(3);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const perWorker = [...metrics.matchAll(/^lpsigner_worker_payments\{worker="\d+",pid="\d+"\} (\d+)/gm)].map((m) => Number(m[1]));
    expect(perWorker, metrics).toHaveLength(2);
    expect(perWorker.every((n) => n > 0), JSON.stringify(perWorker)).toBe(true);
    expect(perWorker.reduce((a, b) => a + b, 0)).toBe(24);
    expect(metrics).toMatch(/^lpsigner_payments_total\{outcome="paid"\} \d+$/m);
    expect(await (await fetch(`${url}/readyz`)).text()).toBe("ready\n");
  }, 60_000);
});
