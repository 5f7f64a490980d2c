/**
 * How the outbox commits: an append resolves only after what holds its events has been fsynced
 * (the WAL, on a single process's writer thread; a -workers worker's journal segment, on libuv's
 * pool), never on the event loop (seen with strace, on the real files); the WAL stays bounded under
 * steady appends (the writer finishes the checkpointer thread's checkpoints, without which a WAL
 * written to continuously never restarts and grows by every commit); two worker processes
 * appending at once keep every event once in the file, with exact counters; and a WAL that cannot
 * restart makes the signer unready until it can.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, expect, test } from "vitest";
import { openOutbox } from "../src/events/outbox.js";
import { outboxHealth } from "../src/events/runtime.js";

const dir = mkdtempSync(join(tmpdir(), "lpsigner-outbox-commit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const root = fileURLToPath(new URL("..", import.meta.url));

/** The largest the WAL file got, sampled every 5 ms until stop(). */
function watchWalSize(path: string): { stop(): number } {
  let largest = 0;
  const sample = () => {
    try {
      largest = Math.max(largest, statSync(`${path}-wal`).size);
    } catch {
      // not created yet
    }
  };
  const timer = setInterval(sample, 5);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return largest;
    },
  };
}

const strace = spawnSync("strace", ["-V"]).status === 0;
if (!strace) console.log("events-outbox-commit: SKIPPED the fsync order test: strace is not installed (apt-get install strace)");

/** strace -f's lines as calls: "[pid T] call(fd<path>, ...)   = R". */
function parseStrace(stderr: string) {
  // A call that another thread's line interrupts is split into "call(... <unfinished ...>" and
  // "<... call resumed>...) = R": it counts where it ends.
  const started = new Map<number, { name: string; fd: string | undefined; file: string; rest: string }>();
  return stderr.split("\n").flatMap((line) => {
    const tid = Number(/^\[pid\s+(\d+)\] /.exec(line)?.[1] ?? 0);
    const body = line.replace(/^\[pid\s+\d+\] /, "");
    const resumed = /^<\.\.\. (\w+) resumed>.*\)\s+= (-?\d+)/.exec(body);
    if (resumed) {
      const s = started.get(tid);
      started.delete(tid);
      return s && s.name === resumed[1] ? [{ tid, ...s, ret: Number(resumed[2]) }] : [];
    }
    const m = /^(\w+)\((\d+)?(?:<([^>]*)>)?(.*?)(?:\)\s+= (-?\d+)| <unfinished \.\.\.>)/.exec(body);
    if (!m) return [];
    const call = { name: m[1]!, fd: m[2], file: m[3] ?? "", rest: m[4]! };
    if (m[5] === undefined) {
      started.set(tid, call);
      return [];
    }
    return [{ tid, ...call, ret: Number(m[5]) }];
  });
}

// Three appends one after another; each writes a line to stdout once it has resolved.
const SCRIPT = `
import { openOutbox } from ${JSON.stringify(join(root, "dist/src/events/outbox.js"))};
import { writeSync } from "node:fs";
const outbox = openOutbox({ path: process.argv[1], maxBytes: 1e9, maxCount: 1e6, role: process.argv[2] });
writeSync(1, "opened\\n");
for (const n of [1, 2, 3]) {
  await outbox.append([{ id: "id-" + n, key: "id-" + n, value: "x".repeat(2000) }]);
  writeSync(1, "resolved " + n + "\\n");
}
outbox.close();
`;

// A single process commits on its writer thread, and the fsync is that thread's.
test.skipIf(!strace)("each append resolves after an fsync of the WAL written after its commit, on a thread other than the event loop's (single process)", () => {
  const path = join(dir, "traced-only.db");
  const r = spawnSync(
    "strace",
    ["-f", "-qq", "-y", "-e", "signal=none", "-e", "trace=openat,write,pwrite64,fsync,fdatasync", process.execPath, "--input-type=module", "-e", SCRIPT, path, "only"],
    { encoding: "utf8", timeout: 60_000 },
  );
  expect(r.status, r.stderr.slice(-2000)).toBe(0);
  const calls = parseStrace(r.stderr);
  const wal = `${path}-wal`;
  const resolvedAt = [1, 2, 3].map((n) => calls.findIndex((c) => c.name === "write" && c.fd === "1" && c.rest.includes(`resolved ${n}`)));
  expect(resolvedAt.every((i) => i > 0), "every append resolved").toBe(true);
  // The event loop's thread is the one that writes the lines.
  const main = calls[resolvedAt[0]!]!.tid;
  let from = 0;
  for (const at of resolvedAt) {
    const lastWalWrite = calls.slice(from, at).findLastIndex((c) => c.name === "pwrite64" && c.file === wal) + from;
    expect(lastWalWrite, "the commit wrote the WAL before the append resolved").toBeGreaterThanOrEqual(from);
    const synced = calls.slice(lastWalWrite, at).filter((c) => (c.name === "fdatasync" || c.name === "fsync") && c.file === wal && c.ret === 0);
    expect(synced.length, "an fsync of the WAL between its last write and the resolution").toBeGreaterThan(0);
    // The event loop (the process's first thread) never waits for an fsync of its own commit.
    expect(synced.some((c) => c.tid !== main)).toBe(true);
    from = at + 1;
  }
  // (Opening creates the file, and closing checkpoints, on the event loop: neither is an append.)
  const opened = calls.findIndex((c) => c.name === "write" && c.fd === "1" && c.rest.includes("opened"));
  expect(calls.slice(opened, resolvedAt[2]).filter((c) => c.tid === main && (c.name === "fdatasync" || c.name === "fsync") && c.file === wal)).toEqual([]);
}, 90_000);

// A -workers worker writes its journal segment on the event loop and fsyncs it on libuv's pool;
// it never writes the shared file (the primary moves the journal in).
test.skipIf(!strace)("a -workers worker: each append resolves after an fdatasync of its journal segment written after its record, off the event loop; the shared file untouched", () => {
  const path = join(dir, "traced-worker.db");
  const r = spawnSync(
    "strace",
    ["-f", "-qq", "-y", "-s", "128", "-e", "signal=none", "-e", "trace=openat,write,pwrite64,fsync,fdatasync", process.execPath, "--input-type=module", "-e", SCRIPT, path, "worker"],
    { encoding: "utf8", timeout: 60_000 },
  );
  expect(r.status, r.stderr.slice(-2000)).toBe(0);
  const calls = parseStrace(r.stderr);
  const segment = (c: { file: string }) => c.file.startsWith(`${path}.journals/`) && c.file.endsWith(".seg");
  const resolvedAt = [1, 2, 3].map((n) => calls.findIndex((c) => c.name === "write" && c.fd === "1" && c.rest.includes(`resolved ${n}`)));
  expect(resolvedAt.every((i) => i > 0), "every append resolved").toBe(true);
  const main = calls[resolvedAt[0]!]!.tid;
  const opened = calls.findIndex((c) => c.name === "write" && c.fd === "1" && c.rest.includes("opened"));
  let from = opened + 1;
  for (const [k, at] of resolvedAt.entries()) {
    const records = calls.slice(from, at).filter((c) => c.name === "pwrite64" && segment(c));
    expect(records, `append ${k + 1} wrote one record to its segment`).toHaveLength(1);
    // The record: its length, its checksum, then the event in it.
    expect(records[0]!.rest).toContain(`id-${k + 1}`);
    const written = calls.indexOf(records[0]!);
    const synced = calls.slice(written, at).filter((c) => c.name === "fdatasync" && segment(c) && c.ret === 0);
    expect(synced.length, "an fdatasync of the segment between its record and the resolution").toBeGreaterThan(0);
    expect(synced.every((c) => c.tid !== main), "the fdatasync is not the event loop's").toBe(true);
    from = at + 1;
  }
  // Appending wrote nothing to the shared file or its WAL.
  expect(calls.slice(opened, resolvedAt[2]).filter((c) => (c.name === "pwrite64" || c.name === "write") && (c.file === path || c.file === `${path}-wal`))).toEqual([]);
}, 90_000);

// Delivered rows removed by a single process: the writer thread deletes them, so the event loop
// never writes the file (nor waits for the write lock the writer thread holds while it commits).
const REMOVE_SCRIPT = `
import { openOutbox } from ${JSON.stringify(join(root, "dist/src/events/outbox.js"))};
import { writeSync } from "node:fs";
const outbox = openOutbox({ path: process.argv[1], maxBytes: 1e9, maxCount: 1e6 });
for (const n of [1, 2, 3]) await outbox.append([{ id: "id-" + n, key: "id-" + n, value: "x".repeat(2000) }]);
writeSync(1, "appended\\n");
await outbox.delivered(outbox.oldest(2).map((r) => r.seq));
writeSync(1, "removed " + JSON.stringify(outbox.oldest(10).map((r) => r.id)) + " " + outbox.stats().depth + "\\n");
outbox.close();
`;

test.skipIf(!strace)("a single process's delivered rows are removed by its writer thread: the event loop writes nothing to the file", () => {
  const path = join(dir, "traced-remove.db");
  const r = spawnSync(
    "strace",
    ["-f", "-qq", "-y", "-e", "signal=none", "-e", "trace=openat,write,pwrite64,fsync,fdatasync", process.execPath, "--input-type=module", "-e", REMOVE_SCRIPT, path],
    { encoding: "utf8", timeout: 60_000 },
  );
  expect(r.status, r.stderr.slice(-2000)).toBe(0);
  expect(r.stdout).toContain('removed ["id-3"] 1');
  const calls = parseStrace(r.stderr);
  const appended = calls.findIndex((c) => c.name === "write" && c.fd === "1" && c.rest.includes("appended"));
  const removed = calls.findIndex((c) => c.name === "write" && c.fd === "1" && c.rest.includes("removed"));
  expect(appended).toBeGreaterThan(0);
  expect(removed).toBeGreaterThan(appended);
  const main = calls[removed]!.tid;
  const walWrites = calls.slice(appended, removed).filter((c) => c.name === "pwrite64" && c.file === `${path}-wal`);
  // The removal's transaction was written to the WAL (its deleted pages, meta's counters) ...
  expect(walWrites.length).toBeGreaterThan(0);
  // ... and none of it by the event loop's thread.
  expect(walWrites.filter((c) => c.tid === main)).toEqual([]);
}, 90_000);

test("under steady appends the WAL stays bounded and every event is kept", async () => {
  const path = join(dir, "steady.db");
  const outbox = openOutbox({ path, maxBytes: 1e10, maxCount: 1e7 });
  const wal = watchWalSize(path);
  const value = "v".repeat(1500);
  let next = 0;
  // Eight callers appending one event at a time, as eight calls in flight do.
  const caller = async () => {
    while (next < 12_000) {
      const n = next++;
      await outbox.append([{ id: `id-${n}`, key: `id-${n}`, value }]);
    }
  };
  await Promise.all(Array.from({ length: 8 }, caller));
  const largest = wal.stop();
  expect(outbox.stats().depth).toBe(12_000);
  // Each commit adds about 25 KB to a WAL that never restarts: 12,000 events would make 40-300 MB.
  expect(largest).toBeLessThan(16 * 1024 * 1024);
  outbox.close();
}, 60_000);

// One -workers worker: appends `count` events (ids from `first`), eight at a time, then exits.
const APPENDER = `
import { openOutbox } from ${JSON.stringify(join(root, "dist/src/events/outbox.js"))};
const [path, first, count] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const outbox = openOutbox({ path, maxBytes: 1e10, maxCount: 1e7, role: "worker" });
let next = first;
const value = "w".repeat(1500);
await Promise.all(Array.from({ length: 8 }, async () => {
  while (next < first + count) {
    const n = next++;
    await outbox.append([{ id: "id-" + n, key: "id-" + n, value }]);
  }
}));
outbox.close();
`;

test("two processes appending to one file at once: every event once, the counters exact, the WAL bounded", async () => {
  const path = join(dir, "two-writers.db");
  // The primary's handle: the schema, the checkpointer thread, the counters read back.
  const primary = openOutbox({ path, maxBytes: 1e10, maxCount: 1e7, role: "primary" });
  const wal = watchWalSize(path);
  // Overlapping ranges: ids 11000-11999 come from both, as a gateway's retry on the other worker does.
  const run = (first: number, count: number) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ["--input-type=module", "-e", APPENDER, path, String(first), String(count)], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr.on("data", (d) => (err += d));
      child.on("error", reject);
      child.on("exit", (code) => (code === 0 ? resolve(err) : reject(new Error(`appender exited ${code}: ${err}`))));
    });
  await Promise.all([run(0, 12_000), run(11_000, 12_000)]);
  // The primary's thread moves the workers' journals in within a few tens of milliseconds.
  const deadline = Date.now() + 10_000;
  while (primary.stats().depth < 23_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  while (readdirSync(`${path}.journals`).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const largest = wal.stop();
  const s = primary.stats();
  // Each worker's segments are deleted once moved in and their writer has exited.
  expect(readdirSync(`${path}.journals`)).toEqual([]);
  primary.close();
  expect(s.depth).toBe(23_000);
  const db = new Database(path, { readonly: true });
  const rows = db.prepare("SELECT count(*) AS n, count(DISTINCT id) AS ids, min(id) AS lo, sum(length(key) + length(value)) AS bytes FROM events").get() as { n: number; ids: number; bytes: number };
  db.close();
  expect(rows.n).toBe(23_000);
  expect(rows.ids).toBe(23_000);
  expect(s.bytes).toBe(rows.bytes);
  // Restarted at about 16 MB; without the restarts these 23,000 events make about 120 MB.
  expect(largest).toBeLessThan(32 * 1024 * 1024);
}, 90_000);

test("a reader holding an old snapshot keeps the WAL from restarting: the signer reports not ready, and is ready again once it lets go", async () => {
  const path = join(dir, "held.db");
  const outbox = openOutbox({ path, maxBytes: 1e10, maxCount: 1e7 });
  const cfg = { path, maxBytes: 1e10, maxCount: 1e7, retentionMs: undefined, gateway: "" };
  // Past 20 MB (above the 16 MB a restarted WAL is cut back to); the signer's own alarm is at 256 MB.
  const health = outboxHealth(outbox, cfg, 20 * 1024 * 1024);
  await outbox.append([{ id: "first", key: "first", value: "x" }]);
  expect(health.problem()).toBeUndefined();
  // A read transaction on its snapshot: no checkpoint may pass it, so the WAL cannot restart.
  const reader = new Database(path, { readonly: true });
  reader.exec("BEGIN");
  reader.prepare("SELECT count(*) FROM events").get();
  const big = "b".repeat(100_000);
  for (let n = 0; n < 30; n++) {
    await outbox.append(Array.from({ length: 10 }, (_, i) => ({ id: `big-${n}-${i}`, key: `big-${n}-${i}`, value: big })));
  }
  expect(outbox.stats().walBytes).toBeGreaterThan(20 * 1024 * 1024);
  expect(health.problem()).toMatch(/^event outbox WAL at \d+ MB: checkpoints are not keeping up/);
  reader.exec("COMMIT");
  reader.close();
  // Commits go on: the writer finishes a checkpoint, the next commit restarts the WAL and cuts it back.
  let small = 0;
  for (; small < 2_000 && outbox.stats().walBytes > 16 * 1024 * 1024; small++) {
    await outbox.append([{ id: `small-${small}`, key: `small-${small}`, value: "s" }]);
  }
  expect(outbox.stats().walBytes).toBeLessThanOrEqual(16 * 1024 * 1024);
  expect(health.problem()).toBeUndefined();
  expect(outbox.stats().depth).toBe(1 + 300 + small);
  outbox.close();
}, 60_000);
