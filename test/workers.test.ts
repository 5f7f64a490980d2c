/**
 * -workers 2 as an operator runs it: `src/main.ts` in its own process against the dev chain,
 * gateways calling over fresh connections. Payments come from both workers, /metrics and
 * WatchSignerActivity sum them, a killed worker is replaced (and logged), SIGTERM drains.
 */
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { spawnSigner, type SignerProcess } from "./support/signer-process.js";
import { SIGNER_V8_FLAGS } from "../src/cluster/v8-flags.js";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { SignerService, WatchSignerActivityRequestSchema } from "../gen/livepeer/signer/v1/signer_pb.js";
import { Capabilities_CapabilityConstraintsSchema } from "../gen/net/lp_rpc_pb.js";
import { createEthSigner } from "../src/crypto/eth-sign.js";
import { startDevChain, type DevChain } from "../src/dev-chain/dev-chain.js";
import { MAX_WIN_PROB } from "../src/pm/ticket.js";
import { startFakeOrchestrator, type FakeOrchestrator } from "./discovery/fake-orchestrator.js";
import { orchestratorInfo, orchestratorInfoBytes } from "./support/fixtures.js";

const key = randomBytes(32); // throwaway, funded on the throwaway chain
let chain: DevChain;
let webhook: Server;
let webhookUrl: string;
let webhookDelayMs = 0;
let fakeOrchestrator: FakeOrchestrator;
const LV2V = 35; // live-video-to-video's capability number

beforeAll(async () => {
  fakeOrchestrator = await startFakeOrchestrator({
    info: () => ({
      address: new Uint8Array(20).fill(7),
      priceInfo: { pricePerUnit: 1n, pixelsPerUnit: 1n },
      capabilities: {
        constraints: { PerCapability: { [LV2V]: create(Capabilities_CapabilityConstraintsSchema, { models: { streamdiffusion: {} } }) } },
      },
    }),
  });
  chain = await startDevChain({ port: 0 });
  await chain.fundSender({ address: createEthSigner(key).addressHex });
  webhook = createServer((req, res) => {
    req.resume();
    setTimeout(() => res.end('{"status":200}'), webhookDelayMs);
  });
  await new Promise<void>((r) => webhook.listen(0, "127.0.0.1", r));
  webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await new Promise((r) => webhook?.close(r));
  await fakeOrchestrator?.close();
  await chain?.close();
});

type Signer = SignerProcess;

function startSigner(): Promise<Signer> {
  const flags = ["-ethUrl", chain.url, "-ethController", chain.controllerAddress];
  flags.push("-httpAddr", "127.0.0.1:0", "-workers", "2", "-remoteSignerWebhookUrl", webhookUrl);
  // Discovery rebuilt every second, from one loopback orchestrator.
  flags.push("-remoteDiscovery", "-orchAddr", fakeOrchestrator.url, "-liveAICapReportInterval", "1s", "-discoveryTimeout", "5s");
  return spawnSigner(flags, { LPSIGNER_UNSAFE_DEV_PRIVATE_KEY: "0x" + key.toString("hex") }, 60_000);
}

const info = orchestratorInfo({
  pricePerUnit: 999_999_999n,
  faceValue: 1_000_000_000_000n,
  winProb: MAX_WIN_PROB / 1000n,
  expirationBlock: 1n << 40n,
  authExpiration: BigInt(Math.floor(Date.now() / 1000)) + 3600n,
});
const orchestrator = Buffer.from(orchestratorInfoBytes(info)).toString("base64");

/** One first-call payment on a fresh connection (so connections spread over the workers). */
function pay(url: string): Promise<number> {
  const body = JSON.stringify({ orchestrator, ManifestID: randomBytes(4).toString("hex"), type: "fixed" });
  return new Promise((resolve, reject) => {
    const req = request(`${url}/generate-live-payment`, { method: "POST", agent: false, timeout: 20_000, headers: { "Content-Type": "application/json" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("payment timed out")));
    req.end(body);
  });
}

async function metrics(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(20_000) })).text();
}

const workerPids = (text: string) => [...text.matchAll(/^lpsigner_worker_payments\{worker="\d+",pid="(\d+)"\} (\d+)/gm)].map((m) => ({ pid: Number(m[1]), paid: Number(m[2]) }));
const sample = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);

async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  let v = await read();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    v = await read();
  }
  return v;
}

describe("-workers 2", () => {
  let signer: Signer;
  beforeAll(async () => {
    webhookDelayMs = 0;
    signer = await startSigner();
  }, 90_000);
  afterAll(async () => {
    signer?.child.kill("SIGKILL");
  });

  test("payments come from both workers; /metrics and WatchSignerActivity sum them", async () => {
    const statuses = await Promise.all(Array.from({ length: 40 }, () => pay(signer.url)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    const text = await metrics(signer.url);
    const workers = workerPids(text);
    expect(workers).toHaveLength(2);
    expect(workers.every((w) => w.paid > 0)).toBe(true);
    expect(workers.reduce((a, w) => a + w.paid, 0)).toBe(40);
    // Each worker runs V8's GC on its own thread and without the memory reducer (cluster/primary.ts).
    for (const { pid } of workers) {
      const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      for (const flag of SIGNER_V8_FLAGS) expect(args).toContain(flag);
    }
    expect(sample(text, 'lpsigner_payments_total\\{outcome="paid"\\}')).toBe(40);
    expect(sample(text, "lpsigner_tickets_signed_total")).toBe(40);
    // Not multiplied by the worker count: one chain view.
    expect(sample(text, "lpsigner_chain_round")).toBeGreaterThan(0);

    // The dashboard stream, from whichever worker answers, counts every worker's payments.
    const client = createClient(SignerService, createConnectTransport({ baseUrl: signer.url, httpVersion: "1.1" }));
    const paid = await eventually(
      async () => {
        for await (const snap of client.watchSignerActivity(create(WatchSignerActivityRequestSchema, {}))) return Number(snap.payments?.paid);
        return 0;
      },
      (n) => n === 40,
    );
    expect(paid).toBe(40);
  }, 60_000);

  test("discovery's snapshotTime and last_seen advance with every rebuild, whichever worker answers", async () => {
    const client = createClient(SignerService, createConnectTransport({ baseUrl: signer.url, httpVersion: "1.1" }));
    const times = async () => {
      const r = await client.discoverOrchestrators({});
      return { snapshot: timestampMs(r.snapshotTime!), seen: r.orchestrators.map((o) => timestampMs(o.lastSeen!)) };
    };
    const first = await eventually(() => times().catch(() => undefined), (t) => t !== undefined && t.seen.length === 1);
    const later = await eventually(
      () => times().catch(() => undefined),
      (t) => t !== undefined && t.snapshot >= first!.snapshot + 2000,
      10_000,
    );
    expect(later!.snapshot, signer.output()).toBeGreaterThanOrEqual(first!.snapshot + 2000);
    expect(later!.seen[0]).toBeGreaterThan(first!.seen[0]!);
  }, 30_000);

  test("concurrent /metrics scrapes share one collection from every process; a later scrape collects anew", async () => {
    const bodies = await Promise.all(Array.from({ length: 16 }, () => metrics(signer.url)));
    // Each collection reads every process's CPU and event-loop lag afresh: equal bodies are one collection.
    expect(new Set(bodies).size).toBe(1);
    expect(workerPids(bodies[0]!)).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 1200));
    expect(await metrics(signer.url)).not.toBe(bodies[0]);
  }, 30_000);

  test("a worker that dies is replaced and logged; payments go on", async () => {
    const before = workerPids(await metrics(signer.url)).map((w) => w.pid);
    expect(before).toHaveLength(2);
    process.kill(before[0]!, "SIGKILL");
    const after = await eventually(
      async () => workerPids(await metrics(signer.url).catch(() => "")).map((w) => w.pid),
      (pids) => pids.length === 2 && !pids.includes(before[0]!),
      90_000, // a replacement loads the whole signer: slow on a loaded machine
    );
    // The signer's log rides along with each check, so a failure shows what the signer saw.
    expect(after, signer.output()).toHaveLength(2);
    expect(after, signer.output()).not.toContain(before[0]);
    expect(signer.output()).toMatch(/worker died; starting a replacement/);
    const statuses = await Promise.all(Array.from({ length: 6 }, () => pay(signer.url).catch((err: Error) => err.message)));
    expect(statuses, signer.output()).toEqual(Array(6).fill(200));
  }, 120_000);

  test("SIGTERM drains in-flight payments on every worker, then exits 0", async () => {
    webhookDelayMs = 1500; // each payment waits on the auth webhook, so they are in flight
    const inFlight = Array.from({ length: 6 }, () => pay(signer.url));
    await new Promise((r) => setTimeout(r, 500));
    signer.child.kill("SIGTERM");
    expect(await Promise.all(inFlight)).toEqual(Array(6).fill(200));
    expect(await signer.exited).toBe(0);
    await expect(pay(signer.url)).rejects.toThrow();
  }, 60_000);
});
