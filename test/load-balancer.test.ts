/**
 * Two signer replicas (same key, same chain) behind Debian's haproxy, and one go-livepeer style
 * gateway session through it: the calls alternate between the replicas, every ticket verifies as
 * an orchestrator checks it, the nonces continue across replicas and the fees are exact. Then one
 * replica is SIGKILLed mid-session and the session carries on against the other, because the
 * whole session state travels signed in each call.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { startDevChainProcess, startSignerProcess, stop, type DevChainProcess } from "../bench/load/spawn.js";
import { createEthSigner } from "../src/crypto/eth-sign.js";
import { createPaymentVerifier } from "../src/dev-orchestrator/payment-verifier.js";
import { Rat } from "../src/math/rat.js";
import { MAX_WIN_PROB } from "../src/pm/ticket.js";
import { openState } from "../src/state/payment-state.js";
import { orchestratorInfo, orchestratorInfoBytes, testOrchestrator } from "./support/fixtures.js";

/** haproxy is in /usr/sbin, which is not on every user's PATH. */
function findHaproxy(): string | undefined {
  const onPath = spawnSync("sh", ["-c", "command -v haproxy"], { encoding: "utf8" }).stdout.trim();
  if (onPath) return onPath;
  return existsSync("/usr/sbin/haproxy") ? "/usr/sbin/haproxy" : undefined;
}
const HAPROXY = findHaproxy();
if (!HAPROXY) console.log("SKIP test/load-balancer.test.ts: haproxy is not installed (apt-get install haproxy; CI installs it)");

const FACE_VALUE = 1_000_000_000_000n;
const WIN_PROB = MAX_WIN_PROB / 1000n;
/** floor(EV) for job type `fixed` (fee = price): every call pays exactly one ticket. */
const PRICE = (FACE_VALUE * WIN_PROB) / MAX_WIN_PROB;
const CALLS_BEFORE_KILL = 12;
const CALLS_AFTER_KILL = 8;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Round robin over both replicas, each call balanced on its own; a replica whose /readyz fails is taken out. */
function haproxyConfig(port: number, replicas: { name: string; port: number }[]): string {
  return [
    "defaults",
    "  mode http",
    "  timeout connect 1s",
    "  timeout client 10s",
    "  timeout server 10s",
    // A call whose connection to a dead replica is refused goes once to the other one.
    "  retries 1",
    "  option redispatch",
    "frontend gateway",
    `  bind 127.0.0.1:${port}`,
    "  default_backend signers",
    "backend signers",
    "  balance roundrobin",
    "  option httpchk GET /readyz",
    "  http-check expect status 200",
    // A check every 200 ms, out after two failures: a dead replica is out within half a second.
    "  timeout check 2s",
    "  default-server inter 200ms fall 2 rise 2",
    // Which replica answered, for the test (a gateway never needs it).
    "  http-response set-header X-Replica %[srv_name]",
    ...replicas.map((r) => `  server ${r.name} 127.0.0.1:${r.port} check`),
    "",
  ].join("\n");
}

async function paymentsTotal(url: string): Promise<number> {
  const text = await (await fetch(url + "/metrics")).text();
  let total = 0;
  for (const m of text.matchAll(/^lpsigner_payments_total\{[^}]*\} (\d+)$/gm)) total += Number(m[1]);
  return total;
}

describe.skipIf(!HAPROXY)("two replicas behind haproxy", () => {
  let chain: DevChainProcess;
  const replicas: { name: string; child: ChildProcess; url: string }[] = [];
  let haproxy: ChildProcess | undefined;
  let haproxyLog = "";
  let lbUrl: string;
  let dir: string;

  beforeAll(async () => {
    chain = await startDevChainProcess();
    const [a, b] = await Promise.all([startSignerProcess(chain, 1), startSignerProcess(chain, 1)]);
    replicas.push({ name: "a", ...a! }, { name: "b", ...b! });
    const port = await freePort();
    dir = mkdtempSync(join(tmpdir(), "lpsigner-lb-"));
    const cfg = join(dir, "haproxy.cfg");
    writeFileSync(cfg, haproxyConfig(port, replicas.map((r) => ({ name: r.name, port: Number(new URL(r.url).port) }))));
    const check = spawnSync(HAPROXY!, ["-c", "-f", cfg], { encoding: "utf8" });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    haproxy = spawn(HAPROXY!, ["-db", "-f", cfg], { stdio: ["ignore", "pipe", "pipe"] });
    haproxy.stdout!.on("data", (c: Buffer) => (haproxyLog += c.toString()));
    haproxy.stderr!.on("data", (c: Buffer) => (haproxyLog += c.toString()));
    lbUrl = `http://127.0.0.1:${port}`;
    // Ready once both replicas have answered a probe through it.
    const seen = new Set<string>();
    for (let i = 0; seen.size < 2; i++) {
      if (i > 100) throw new Error(`haproxy did not reach both replicas: ${haproxyLog}`);
      const res = await fetch(lbUrl + "/readyz").catch(() => undefined);
      if (res?.status === 200) seen.add(res.headers.get("x-replica") ?? "");
      else await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    if (haproxy) await stop(haproxy);
    await Promise.all(replicas.map((r) => stop(r.child)));
    if (chain) await stop(chain.child);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("one session alternates between replicas, pays exactly with continuing nonces, and survives a SIGKILL", async () => {
    const sender = createEthSigner(chain.key).address;
    const orch = testOrchestrator();
    const info = orchestratorInfo({
      orch,
      pricePerUnit: PRICE,
      pixelsPerUnit: 1n,
      faceValue: FACE_VALUE,
      winProb: WIN_PROB,
      expirationBlock: 1n << 40n,
      authExpiration: BigInt(Math.floor(Date.now() / 1000)) + 3600n,
    });
    const orchestrator = Buffer.from(orchestratorInfoBytes(info)).toString("base64");
    const verifier = createPaymentVerifier({ orch, sender, expectedPrice: { pricePerUnit: PRICE, pixelsPerUnit: 1n }, lastSeenL1Block: () => 0n });
    let state: { State: string; Sig: string } | undefined;
    let paid = 0n;
    const servedBy: string[] = [];
    let retries = 0;

    /** One gateway call; a failed one is retried once with the same state, as a gateway would. */
    const call = async () => {
      const body = JSON.stringify({ state: state ?? { State: null, Sig: null }, orchestrator, ManifestID: "lb-stream", inPixels: 0, type: "fixed", capabilities: null });
      const post = () => fetch(lbUrl + "/generate-live-payment", { method: "POST", body, headers: { "Content-Type": "application/json" } }).catch(() => undefined);
      let res = await post();
      if (res?.status !== 200) {
        retries++;
        res = await post();
      }
      expect(res?.status, res && (await res.clone().text())).toBe(200);
      const reply = (await res!.json()) as { payment: string; segCreds: string; state: { State: string; Sig: string } };
      servedBy.push(res!.headers.get("x-replica") ?? "?");
      const payment = verifier.accept(reply.payment, reply.segCreds, "lb-stream");
      expect(payment.ticketSenderParams).toHaveLength(1);
      paid += PRICE;
      state = reply.state;
      const decoded = openState({ state: Buffer.from(state.State, "base64"), sig: Buffer.from(state.Sig, "base64") }, sender);
      // Nonces continue across replicas: 1, 2, 3, … with no gap and no repeat.
      expect(decoded.senderNonce).toBe(servedBy.length);
      // The orchestrator's credit (EV received minus every fee) is the state's balance, exactly.
      expect(decoded.balance).toBe(verifier.received().sub(new Rat(paid)).toString());
    };

    for (let i = 0; i < CALLS_BEFORE_KILL; i++) await call();
    expect(retries).toBe(0);
    // Round robin: every call went to the other replica than the call before.
    for (let i = 1; i < servedBy.length; i++) expect(servedBy[i], servedBy.join(",")).not.toBe(servedBy[i - 1]);
    for (const r of replicas) expect(await paymentsTotal(r.url), r.name).toBe(servedBy.filter((s) => s === r.name).length);

    // The replica that signed the session's latest state dies without a goodbye (no drain, no
    // unready phase): the next call carries its state to the survivor, and haproxy finds out by itself.
    const dead = replicas.find((r) => r.name === servedBy.at(-1))!;
    const survivor = replicas.find((r) => r !== dead)!;
    const exited = new Promise((r) => dead.child.once("exit", r));
    dead.child.kill("SIGKILL");
    await exited;
    for (let i = 0; i < CALLS_AFTER_KILL; i++) await call();
    expect(servedBy.slice(CALLS_BEFORE_KILL)).toEqual(Array(CALLS_AFTER_KILL).fill(survivor.name));
    expect(retries).toBeLessThanOrEqual(1);
    expect(verifier.nonces()).toEqual(Array.from({ length: CALLS_BEFORE_KILL + CALLS_AFTER_KILL }, (_, i) => i + 1));
    // /metrics answers from a collection up to a second old.
    await vi.waitFor(async () => expect(await paymentsTotal(survivor.url)).toBe(servedBy.filter((s) => s === survivor.name).length), { timeout: 5000, interval: 250 });
  });
});
