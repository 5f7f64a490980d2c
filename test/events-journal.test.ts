/**
 * -workers journals (src/events/journal.ts): a worker's events go to segment files of its own, and
 * the primary's thread moves them into the outbox. Checked on real files and real processes: a
 * session whose calls alternate between workers keeps its order in the file; full segments are
 * moved in and deleted while their worker writes on; a SIGKILLed worker's acknowledged events all
 * arrive and a torn record does not; a primary started after its workers moves their journals in
 * before anything else; with delivery the quota holds across what is not yet moved in; the
 * primary's thread removes delivered rows, waiting for a lock held elsewhere without failing, and
 * prunes expired ones; and a primary that cannot move them in says so on /readyz.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, expect, test } from "vitest";
import { openOutbox, OutboxUnavailableError, type Outbox } from "../src/events/outbox.js";
import { outboxHealth } from "../src/events/runtime.js";
import { watchEventLoop } from "./support/event-loop.js";

const dir = mkdtempSync(join(tmpdir(), "lpsigner-journal-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const root = fileURLToPath(new URL("..", import.meta.url));
const limits = { maxBytes: 1e10, maxCount: 1e7 };

async function until(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

const storedIds = (path: string): string[] => {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare("SELECT id FROM events ORDER BY seq").all() as { id: string }[]).map((r) => r.id);
  } finally {
    db.close();
  }
};

const event = (id: string, value = "v".repeat(1000)) => ({ id, key: id, value });

test("a session whose calls alternate between two workers keeps its order in the file", async () => {
  const path = join(dir, "order.db");
  const primary = openOutbox({ path, ...limits, role: "primary" });
  const workers = [openOutbox({ path, ...limits, role: "worker" }), openOutbox({ path, ...limits, role: "worker" })];
  // Each call after the previous one's reply, on the other worker, as a gateway's next call may go.
  const ids = Array.from({ length: 800 }, (_, n) => `session-a-${String(n).padStart(4, "0")}`);
  for (const [n, id] of ids.entries()) await workers[n % 2]!.append([event(id)]);
  await until(() => primary.stats().depth >= ids.length, 10_000);
  // The two workers' segments were read in passes of many records from both: the file's seq
  // order is the order of the appends, not of the segments.
  expect(storedIds(path)).toEqual(ids);
  for (const w of workers) w.close();
  primary.close();
}, 60_000);

test("full segments are moved in and deleted while their worker writes on", async () => {
  const path = join(dir, "rotate.db");
  const primary = openOutbox({ path, ...limits, role: "primary" });
  // About 50 events of 1.2 KB per 64 KiB segment: 600 events make a dozen segments.
  const worker = openOutbox({ path, ...limits, role: "worker", journalSegmentBytes: 64 * 1024 });
  const ids = Array.from({ length: 600 }, (_, n) => `rotate-${n}`);
  for (let n = 0; n < ids.length; n += 4) await Promise.all(ids.slice(n, n + 4).map((id) => worker.append([event(id)])));
  const segments = () => readdirSync(`${path}.journals`).sort();
  await until(() => primary.stats().depth >= ids.length && segments().length <= 2, 10_000);
  expect(storedIds(path).sort()).toEqual([...ids].sort());
  expect(primary.stats().depth).toBe(600);
  // Left: the worker's current segment, and the next one once the current is half full (made
  // ahead); every full one has been moved in and deleted.
  const left = segments();
  expect(left.length).toBeGreaterThanOrEqual(1);
  expect(left.length).toBeLessThanOrEqual(2);
  for (const f of left) expect(f).toMatch(/^\d+-[0-9a-f]{8}-\d{6}\.seg$/);
  expect(Number(left[0]!.slice(-10, -4))).toBeGreaterThanOrEqual(8);
  worker.close();
  primary.close();
}, 60_000);

// A -workers worker in a process of its own: appends one event at a time, printing each id once
// its append has resolved (its reply could have been sent), until it is killed or has made `count`.
const APPENDER = `
import { openOutbox } from ${JSON.stringify(join(root, "dist/src/events/outbox.js"))};
import { writeSync } from "node:fs";
const [path, prefix, count] = [process.argv[1], process.argv[2], Number(process.argv[3])];
const outbox = openOutbox({ path, maxBytes: 1e10, maxCount: 1e7, role: "worker" });
for (let n = 0; n < count; n++) {
  const id = prefix + n;
  await outbox.append([{ id, key: id, value: "k".repeat(1000) }]);
  writeSync(1, id + "\\n");
}
outbox.close();
`;

function appender(path: string, prefix: string, count: number) {
  const child = spawn(process.execPath, ["--input-type=module", "-e", APPENDER, path, prefix, String(count)], { stdio: ["ignore", "pipe", "inherit"] });
  const acked: string[] = [];
  let buffered = "";
  child.stdout.on("data", (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    acked.push(...lines);
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, acked, exited };
}

test("a worker SIGKILLed while appending: every acknowledged event is moved in, and its segments are then deleted", async () => {
  const path = join(dir, "killed.db");
  const primary = openOutbox({ path, ...limits, role: "primary" });
  const a = appender(path, "killed-", 1_000_000);
  await until(() => a.acked.length >= 300, 30_000);
  a.child.kill("SIGKILL");
  await a.exited;
  const acked = [...a.acked];
  expect(acked.length).toBeGreaterThanOrEqual(300);
  await until(() => readdirSync(`${path}.journals`).length === 0, 10_000);
  const stored = new Set(storedIds(path));
  expect(acked.filter((id) => !stored.has(id))).toEqual([]);
  // At most the appends in flight at the kill were written without being acknowledged.
  expect(stored.size - acked.length).toBeLessThanOrEqual(2);
  expect(readdirSync(`${path}.journals`)).toEqual([]);
  primary.close();
}, 60_000);

/** Where a segment's records end (its first zero length). */
function validEnd(file: string): number {
  const fd = openSync(file, "r");
  try {
    const header = Buffer.alloc(8);
    let at = 0;
    for (;;) {
      readSync(fd, header, 0, 8, at);
      const len = header.readUInt32LE(0);
      if (len === 0) return at;
      at += 8 + len;
    }
  } finally {
    closeSync(fd);
  }
}

test("a primary started after its workers have gone moves their journals in at once; a torn record and what follows it are not taken", async () => {
  const path = join(dir, "later.db");
  // The file exists (a worker opens it), but no primary runs while the worker writes.
  openOutbox({ path, ...limits }).close(); // the file and its schema, then no writer
  const a = appender(path, "later-", 50);
  expect(await a.exited).toBe(0);
  const [segment] = readdirSync(`${path}.journals`);
  const file = join(`${path}.journals`, segment!);
  // A torn record after the 50: its header promises more than its checksum covers.
  const end = validEnd(file);
  const fd = openSync(file, "r+");
  const torn = Buffer.alloc(8 + 40, 0x5b);
  torn.writeUInt32LE(40, 0);
  torn.writeUInt32LE(12345, 4);
  writeSync(fd, torn, 0, torn.length, end);
  closeSync(fd);
  expect(storedIds(path)).toEqual([]);

  const primary = openOutbox({ path, ...limits, role: "primary" });
  // In before openOutbox returned: before any new worker could write.
  expect(storedIds(path)).toEqual(Array.from({ length: 50 }, (_, n) => `later-${n}`));
  expect(primary.stats().depth).toBe(50);
  expect(readdirSync(`${path}.journals`)).toEqual([]);
  primary.close();
}, 60_000);

test("a single process started where workers of an earlier run left journals moves them in at once", async () => {
  const path = join(dir, "then-single.db");
  openOutbox({ path, ...limits }).close(); // the file and its schema, then no writer
  const a = appender(path, "earlier-", 20);
  expect(await a.exited).toBe(0);
  const single = openOutbox({ path, ...limits });
  expect(storedIds(path)).toEqual(Array.from({ length: 20 }, (_, n) => `earlier-${n}`));
  expect(readdirSync(`${path}.journals`)).toEqual([]);
  // Its own appends follow them.
  await single.append([event("single-0")]);
  expect(single.oldest(30).map((r) => r.id).slice(-2)).toEqual(["earlier-19", "single-0"]);
  single.close();
}, 60_000);

test("with delivery, a worker's quota counts what the primary has not moved in yet; delivered, appends resume", async () => {
  const path = join(dir, "quota.db");
  const quota = { maxBytes: 1e9, maxCount: 10 };
  const primary: Outbox = openOutbox({ path, ...quota, role: "primary" });
  const worker = openOutbox({ path, ...quota, role: "worker" });
  // Ten at once: none of them moved in yet when the eleventh comes.
  await Promise.all(Array.from({ length: 10 }, (_, n) => worker.append([event(`q-${n}`)])));
  await expect(worker.append([event("q-10")])).rejects.toThrow(new OutboxUnavailableError("outbox full"));
  await until(() => primary.stats().depth === 10, 10_000);
  await expect(worker.append([event("q-10")])).rejects.toThrow(OutboxUnavailableError);
  expect(primary.stats().depth).toBe(10);
  // Delivered: room again.
  await primary.delivered(primary.oldest(10).map((r) => r.seq));
  await worker.append([event("q-10")]);
  await until(() => primary.stats().depth === 1, 10_000);
  expect(primary.oldest(10).map((r) => r.id)).toEqual(["q-10"]);
  worker.close();
  primary.close();
}, 60_000);

test("a primary removes delivered rows on its thread: a write lock held elsewhere for 400 ms delays the removal without failing it or stalling the event loop", async () => {
  const path = join(dir, "removal.db");
  const primary = openOutbox({ path, ...limits, role: "primary" });
  const worker = openOutbox({ path, ...limits, role: "worker" });
  try {
    await worker.append([event("r-0"), event("r-1")]);
    await until(() => primary.stats().depth === 2, 10_000);
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    // The event loop's longest gap while the removal waits.
    const loop = watchEventLoop(5);
    const t0 = Date.now();
    const removed = primary.delivered(primary.oldest(10).map((r) => r.seq));
    await new Promise((r) => setTimeout(r, 400));
    other.exec("ROLLBACK");
    other.close();
    await removed;
    const longestGap = loop.stop();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(longestGap).toBeLessThan(45);
    expect(primary.stats()).toMatchObject({ depth: 0, delivered: 2 });
  } finally {
    worker.close();
    primary.close();
  }
}, 60_000);

test("a primary prunes on its thread: the workers' events past retention go (more than a chunk), the newer stay; a worker cannot prune", async () => {
  const path = join(dir, "prune.db");
  const primary = openOutbox({ path, ...limits, retentionMs: 300, role: "primary" });
  const worker = openOutbox({ path, ...limits, retentionMs: 300, role: "worker" });
  try {
    await worker.append(Array.from({ length: 700 }, (_, n) => event(`old-${n}`, "v")));
    await until(() => primary.stats().depth === 700, 10_000);
    await new Promise((r) => setTimeout(r, 350));
    await worker.append([event("new-0", "v"), event("new-1", "v")]);
    await until(() => primary.stats().depth === 702, 10_000);
    expect(await primary.prune()).toBe(700);
    expect(storedIds(path)).toEqual(["new-0", "new-1"]);
    expect(primary.stats().depth).toBe(2);
    await expect(worker.prune()).rejects.toThrow(/only the process that owns the outbox/);
  } finally {
    worker.close();
    primary.close();
  }
}, 60_000);

test("a primary that cannot move the journals in reports not ready until it can", async () => {
  const path = join(dir, "stuck.db");
  const primary = openOutbox({ path, ...limits, role: "primary" });
  const health = outboxHealth(primary, { path, ...limits, retentionMs: undefined, gateway: "" });
  expect(health.problem()).toBeUndefined();
  // A segment that cannot be read (a directory in its place): every pass fails on it.
  const blocker = join(`${path}.journals`, `${process.pid}-00000000-000000.seg`);
  mkdirSync(blocker, { recursive: true });
  await until(() => health.problem() !== undefined, 5_000);
  expect(health.problem()).toMatch(/^event outbox: moving the workers' journals in fails: .*EISDIR/);
  rmSync(blocker, { recursive: true });
  await until(() => health.problem() === undefined, 5_000);
  expect(health.problem()).toBeUndefined();
  primary.close();
}, 30_000);
