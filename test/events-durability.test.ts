/**
 * Durability of the event outbox with real signer processes (`src/main.ts` on a dev chain) and
 * the SQLite file on disk: under load, every call whose reply was sent has its event in the
 * outbox after a SIGKILL (of the whole signer, then restarted; of one of two workers, replaced),
 * nothing twice, and -workers 2 writes the events of both workers to the one file.
 */
import { spawnSigner, type SignerProcess } from "./support/signer-process.js";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createEthSigner } from "../src/crypto/eth-sign.js";
import { startDevChain, type DevChain } from "../src/dev-chain/dev-chain.js";
import { openOutbox } from "../src/events/outbox.js";
import { paymentEventId } from "../src/events/payment-event.js";
import { MAX_WIN_PROB } from "../src/pm/ticket.js";
import { decodeState } from "../src/state/payment-state.js";
import { orchestratorInfo, orchestratorInfoBytes } from "./support/fixtures.js";

const key = randomBytes(32);
const address = createEthSigner(key).address;
const dir = mkdtempSync(join(tmpdir(), "lpsigner-events-durability-"));
let chain: DevChain;

beforeAll(async () => {
  chain = await startDevChain({ port: 0 });
  await chain.fundSender({ address: createEthSigner(key).addressHex });
}, 60_000);
afterAll(async () => {
  await chain?.close();
  rmSync(dir, { recursive: true, force: true });
});

type Signer = SignerProcess;

function startSigner(db: string, workers: number): Promise<Signer> {
  const flags = ["-ethUrl", chain.url, "-ethController", chain.controllerAddress];
  flags.push("-httpAddr", "127.0.0.1:0", "-workers", String(workers), "-remoteSignerAllowNoAuth", "-eventsDb", db, "-logLevel", "warn");
  return spawnSigner(flags, { LPSIGNER_UNSAFE_DEV_PRIVATE_KEY: "0x" + key.toString("hex") }, 90_000);
}

const info = orchestratorInfo({
  pricePerUnit: 999_999_999n,
  faceValue: 1_000_000_000_000n,
  winProb: MAX_WIN_PROB / 1000n,
  expirationBlock: 1n << 40n,
  authExpiration: BigInt(Math.floor(Date.now() / 1000)) + 3600n,
});
const orchestrator = Buffer.from(orchestratorInfoBytes(info)).toString("base64");

/** A first call on a fresh connection; resolves with the event id its reply implies, or undefined when no reply came. */
function pay(url: string): Promise<string | undefined> {
  const body = JSON.stringify({ orchestrator, ManifestID: randomBytes(4).toString("hex"), type: "fixed" });
  return new Promise((resolve) => {
    const req = request(`${url}/generate-live-payment`, { method: "POST", agent: false, timeout: 20_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        if (res.statusCode !== 200) return resolve(undefined);
        const state = JSON.parse(Buffer.concat(chunks).toString("utf8")).state;
        resolve(paymentEventId(address, decodeState(Buffer.from(state.State, "base64")).stateId, 0n));
      });
      res.on("error", () => resolve(undefined));
    });
    req.on("error", () => resolve(undefined));
    req.on("timeout", () => req.destroy());
    req.end(body);
  });
}

/** `concurrency` gateways paying in a loop until stop(); the ids of every reply received. */
function load(url: () => string, concurrency: number) {
  const replied: string[] = [];
  let sent = 0;
  let running = true;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      sent++;
      const id = await pay(url());
      if (id) replied.push(id);
      else await new Promise((r) => setTimeout(r, 20));
    }
  });
  return {
    replied,
    sent: () => sent,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

function storedIds(db: string): string[] {
  const outbox = openOutbox({ path: db, maxBytes: Number.MAX_SAFE_INTEGER, maxCount: Number.MAX_SAFE_INTEGER, readOnly: true });
  try {
    const ids: string[] = [];
    for (let rows = outbox.since(0, 0, 10_000); rows.length > 0; rows = outbox.since(0, rows.at(-1)!.seq, 10_000)) ids.push(...rows.map((r) => r.id));
    return ids;
  } finally {
    outbox.close();
  }
}

const until = async (ok: () => boolean, ms: number) => {
  for (const end = Date.now() + ms; !ok() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
};

describe("events survive a SIGKILL under load", () => {
  test("the whole signer killed, then restarted: every event whose reply was sent is in the outbox, once", async () => {
    const db = join(dir, "one.db");
    let signer = await startSigner(db, 1);
    const traffic = load(() => signer.url, 8);
    await until(() => traffic.replied.length >= 150, 30_000);
    signer.child.kill("SIGKILL");
    await signer.exited;
    await traffic.stop();
    expect(traffic.replied.length).toBeGreaterThanOrEqual(150);

    const stored = storedIds(db);
    expect(new Set(stored).size).toBe(stored.length);
    const missing = traffic.replied.filter((id) => !stored.includes(id));
    expect(missing).toEqual([]);
    // At most the calls cut off by the kill have events without replies.
    expect(stored.length - traffic.replied.length).toBeLessThanOrEqual(8);

    // Restarted on the same file: it serves, and appends after what survived.
    signer = await startSigner(db, 1);
    try {
      const id = await pay(signer.url);
      expect(id).toBeDefined();
      const after = storedIds(db);
      expect(after.slice(0, stored.length)).toEqual(stored);
      expect(after.at(-1)).toBe(id);
    } finally {
      signer.child.kill("SIGTERM");
      await signer.exited;
    }
  }, 180_000);

  test("-workers 2: both workers' events in the one file (through their journals); a worker killed and replaced loses and duplicates nothing", async () => {
    const db = join(dir, "two.db");
    const signer = await startSigner(db, 2);
    try {
      const traffic = load(() => signer.url, 8);
      await until(() => traffic.replied.length >= 100, 30_000);
      const pids = async () =>
        [...(await (await fetch(`${signer.url}/metrics`)).text()).matchAll(/^lpsigner_worker_payments\{worker="\d+",pid="(\d+)"\} (\d+)/gm)].map((m) => ({
          pid: Number(m[1]),
          paid: Number(m[2]),
        }));
      const workers = await pids();
      expect(workers).toHaveLength(2);
      // Both workers answered payments, so both wrote events (each call's event precedes its reply).
      expect(workers.every((w) => w.paid > 0)).toBe(true);
      process.kill(workers[0]!.pid, "SIGKILL");
      const before = traffic.replied.length;
      await until(() => traffic.replied.length >= before + 100, 60_000);
      await traffic.stop();

      // The primary moves the workers' journals into the file within tens of milliseconds, and
      // /metrics answers from a collection up to a second old: read until both cover the last calls.
      const depthNow = async () => Number(/^lpsigner_events_outbox_depth (\d+)/m.exec(await (await fetch(`${signer.url}/metrics`)).text())?.[1]);
      let depth = await depthNow();
      let stored = storedIds(db);
      for (let i = 0; i < 20 && !(depth >= traffic.replied.length && stored.length >= traffic.replied.length); i++) {
        await new Promise((r) => setTimeout(r, 250));
        depth = await depthNow();
        stored = storedIds(db);
      }
      expect(new Set(stored).size).toBe(stored.length);
      expect(traffic.replied.filter((id) => !stored.includes(id))).toEqual([]);
      expect(stored.length - traffic.replied.length).toBeLessThanOrEqual(8);
      // The primary's gauge reads the shared file: every worker's events, counted once.
      expect(depth).toBeGreaterThanOrEqual(traffic.replied.length);
      expect(depth).toBeLessThanOrEqual(stored.length);
    } finally {
      signer.child.kill("SIGTERM");
      await signer.exited;
    }
  }, 180_000);
});
