/**
 * -workers with a remote key: no key bytes go to the workers; each process opens its own
 * backend session (here clef), and payments answered by either worker are verified as the
 * orchestrator does (test/keys/support/e2e-session.ts).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createEthSigner } from "../../src/crypto/eth-sign.js";
import { startDevChain, type DevChain } from "../../src/dev-chain/dev-chain.js";
import { CLEF_VERSION, clefAvailable, setupClef, type Clef } from "./support/clef-harness.js";
import { openE2eScenario } from "./support/e2e-session.js";

const hasClef = clefAvailable();
if (!hasClef) console.warn(`SKIPPED: the JSON-RPC -workers test needs go-ethereum's clef ${CLEF_VERSION}: run test/keys/support/clef-build.sh`);

const key = randomBytes(32);
const address = createEthSigner(key).addressHex;

describe.skipIf(!hasClef)("-workers 2 on a key held by clef", () => {
  let clef: Clef;
  let chain: DevChain;
  let child: ChildProcess | undefined;
  let out = "";

  beforeAll(async () => {
    [clef, chain] = await Promise.all([setupClef("0x" + key.toString("hex")), startDevChain({ port: 0 })]);
    await chain.fundSender({ address });
  }, 40_000);

  afterAll(async () => {
    child?.kill("SIGKILL");
    await chain?.close();
    await clef?.dispose();
  });

  test("both workers sign through their own clef sessions; every ticket verifies", async () => {
    const main = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
    const args = ["--import", "tsx", main, "-ethUrl", chain.url, "-ethController", chain.controllerAddress, "-httpAddr", "127.0.0.1:0"];
    args.push("-workers", "2", "-ethSignerUrl", clef.url, "-ethAcctAddr", address, "-keyTimeout", "3s");
    child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
    for (let i = 0; i < 600 && !/serving:\s+http/.test(out) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
    const url = /serving:\s+(http:\/\/\S+)/.exec(out)?.[1];
    expect(url, out).toBeDefined();
    // Connections go to the workers in turn: four scenarios (eight sessions) reach both. Each
    // registers its orchestrator on chain first (one transaction at a time), then all pay at once.
    const scenarios = [];
    for (let i = 0; i < 4; i++) scenarios.push(await openE2eScenario({ url: url!, address, chain }));
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
