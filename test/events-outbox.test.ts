/**
 * The outbox file on its own: its quota counters (meta's count and bytes, written once per
 * transaction by whoever inserts or deletes) always equal the rows, through appends of text and
 * bytes, duplicates, the ring's evictions, deliveries (whose seqs are removed as ranges: exactly
 * those given, in any order, with gaps and repeats) and pruning; and a file from the schema that
 * kept them with per-row triggers is taken over without counting twice, one with a unique index on
 * the ids is rebuilt without it, keeping its rows and seqs, and retries are still stored once; a
 * failed delivery is counted, and expired rows pruned (in chunks), by the writer thread, without
 * the caller waiting for the lock.
 */
import Database from "better-sqlite3";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { openOutbox, OutboxUnavailableError, type Outbox } from "../src/events/outbox.js";
import { watchEventLoop } from "./support/event-loop.js";

const dir = mkdtempSync(join(tmpdir(), "lpsigner-outbox-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const fresh = () => join(dir, `events-${++files}.db`);

const value = (i: number) => `{"id":"id-${i}","n":${i},"text":"é"}`;
const event = (i: number, asBytes = false) => ({ id: `id-${i}`, key: `id-${i}`, value: asBytes ? Buffer.from(value(i)) : value(i) });
const size = (i: number) => `id-${i}`.length + Buffer.byteLength(value(i));

/** What the rows hold, counted by SQLite itself. */
function counted(path: string): { depth: number; bytes: number } {
  const db = new Database(path, { readonly: true });
  try {
    const r = db.prepare("SELECT count(*) AS depth, coalesce(sum(length(key) + length(value)), 0) AS bytes FROM events").get() as { depth: number; bytes: number };
    return { depth: r.depth, bytes: r.bytes };
  } finally {
    db.close();
  }
}

function expectCounters(outbox: Outbox, path: string): void {
  const s = outbox.stats();
  expect({ depth: s.depth, bytes: s.bytes }).toEqual(counted(path));
}

test("the counters follow appends (text and bytes, duplicates), deliveries and a full outbox", async () => {
  const path = fresh();
  const outbox = openOutbox({ path, maxBytes: 1 << 20, maxCount: 5 });
  try {
    await outbox.append([event(1), event(2, true)]);
    // Concurrent appends share commits; a duplicate id is stored once and counted once.
    await Promise.all([outbox.append([event(3)]), outbox.append([event(1)]), outbox.append([event(4, true)])]);
    expect(outbox.stats()).toMatchObject({ depth: 4, bytes: size(1) + size(2) + size(3) + size(4) });
    expectCounters(outbox, path);
    // Text and bytes are stored alike: the bytes of the UTF-8 text.
    expect(outbox.oldest(4).map((r) => Buffer.from(r.value).toString())).toEqual([value(1), value(2), value(3), value(4)]);

    // Full (count 5): the sixth is refused, the one that fits in the same commit is not.
    const results = await Promise.allSettled([outbox.append([event(5)]), outbox.append([event(6)])]);
    expect(results[0].status).toBe("fulfilled");
    expect(results[1].status === "rejected" && results[1].reason).toBeInstanceOf(OutboxUnavailableError);
    expectCounters(outbox, path);

    await outbox.delivered(outbox.oldest(2).map((r) => r.seq));
    expect(outbox.stats()).toMatchObject({ depth: 3, delivered: 2 });
    expectCounters(outbox, path);
    await outbox.append([event(6)]);
    expectCounters(outbox, path);
  } finally {
    outbox.close();
  }
});

test("a delivery removes exactly its seqs, in any order, with gaps and repeats, and counts each once", async () => {
  const path = fresh();
  const outbox = openOutbox({ path, maxBytes: 1 << 20, maxCount: 100 });
  try {
    for (let i = 1; i <= 12; i++) await outbox.append([event(i)]);
    const seq = new Map(outbox.oldest(12).map((r) => [r.id, r.seq]));
    const of = (...ns: number[]) => ns.map((i) => seq.get(`id-${i}`)!);
    // Runs 2-4 and 7-8 and a lone 11, unsorted, 3 twice; 1, 5, 6, 9, 10 and 12 stay.
    await outbox.delivered(of(8, 3, 11, 2, 7, 4, 3));
    expect(outbox.oldest(12).map((r) => r.id)).toEqual(["id-1", "id-5", "id-6", "id-9", "id-10", "id-12"]);
    expect(outbox.stats()).toMatchObject({ depth: 6, delivered: 6 });
    expectCounters(outbox, path);
    // Seqs already gone are not counted again.
    await outbox.delivered(of(2, 5));
    expect(outbox.stats()).toMatchObject({ depth: 5, delivered: 7 });
    expectCounters(outbox, path);
  } finally {
    outbox.close();
  }
});

test("without delivery: the oldest make room at the quota, and retention prunes, the counters kept", async () => {
  const path = fresh();
  const outbox = openOutbox({ path, maxBytes: 1 << 20, maxCount: 3, retentionMs: 200 });
  try {
    for (let i = 1; i <= 5; i++) await outbox.append([event(i)]);
    expect(outbox.oldest(10).map((r) => r.id)).toEqual(["id-3", "id-4", "id-5"]);
    expectCounters(outbox, path);
    await new Promise((r) => setTimeout(r, 250));
    await outbox.append([event(6)]); // at the quota: id-3 makes room
    expect(await outbox.prune()).toBe(2);
    expect(outbox.stats().depth).toBe(1);
    expectCounters(outbox, path);
  } finally {
    outbox.close();
  }
});

test("retention prunes on the writer thread, a chunk at a time: every expired row goes (a stopped prune ends after its chunk), the newer stay, the counters kept, and a lock held elsewhere stalls no caller", async () => {
  const path = fresh();
  const outbox = openOutbox({ path, maxBytes: 1 << 30, maxCount: 1e6, retentionMs: 300 });
  try {
    // More than two chunks (500 rows each) of expired rows.
    const expired = Array.from({ length: 1234 }, (_, i) => event(i));
    await outbox.append(expired);
    await new Promise((r) => setTimeout(r, 350));
    await outbox.append([event(5000), event(5001), event(5002)]);
    // Stopped (a signer shutting down): the chunk under way ends it.
    expect(await outbox.prune(AbortSignal.abort())).toBe(500);
    expectCounters(outbox, path);
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    const t0 = performance.now();
    const pruning = outbox.prune();
    expect(performance.now() - t0).toBeLessThan(20);
    await new Promise((r) => setTimeout(r, 200));
    other.exec("ROLLBACK");
    other.close();
    expect(await pruning).toBe(734);
    expect(outbox.oldest(10).map((r) => r.id)).toEqual(["id-5000", "id-5001", "id-5002"]);
    expectCounters(outbox, path);
    expect(await outbox.prune()).toBe(0);
  } finally {
    outbox.close();
  }
});

test("spend is summed exactly on a thread of its own: ordinary fees by SQLite, fees past its integers and negative ones one by one; at most 8 queries wait", async () => {
  const path = fresh();
  const outbox = openOutbox({ path, maxBytes: 1 << 30, maxCount: 1e6 });
  let n = 0;
  const all = new Map<string, { events: number; fee: bigint }>();
  const listed = (m: Map<string, { events: number; fee: bigint }>) =>
    [...m].sort((a, b) => (b[1].fee > a[1].fee ? 1 : b[1].fee < a[1].fee ? -1 : a[0].localeCompare(b[0]))).map(([k, e]) => [k, e.events, e.fee.toString()]);
  // Each step's events on their own (the window starts after the last step's), then all of them.
  const step = async (payments: [authId: string, fees: bigint[]][]) => {
    await new Promise((r) => setTimeout(r, 5));
    const since = Date.now();
    const mine = new Map<string, { events: number; fee: bigint }>();
    for (const [authId, fees] of payments) {
      await outbox.append(fees.map((feeWei) => ({ ...event(++n), spend: { authId, orchestrator: "0xorch", feeWei } })));
      for (const m of [mine, all]) {
        const e = m.get(authId) ?? { events: 0, fee: 0n };
        m.set(authId, { events: e.events + fees.length, fee: fees.reduce((a, f) => a + f, e.fee) });
      }
    }
    const spend = await outbox.spend(since);
    expect(spend.byAuthId.map((e) => [e.key, e.events, e.feeWei])).toEqual(listed(mine));
  };
  try {
    // Ordinary fees, some of 9 digits or fewer, one past 2^63: SQLite's sums.
    await step([["alice", [123_456_789_012_345n, 7n, 999_999_999n, 1_000_000_000n, 2n ** 63n + 1n]], ["bob", [42n, 5_000_000_000_000_000n]]]);
    // A fee too long for SQLite's integers (its CAST would clamp the leading digits).
    await step([["dave", [10n ** 40n + 3n]], ["bob", [8n]]]);
    // A negative fee.
    await step([["erin", [-1_234_567_890n, 12n]]]);
    // Fees whose leading digits sum past 2^63 (SQLite's sum overflows).
    await step([["carol", Array.from({ length: 10 }, () => 999_999_999_999_999_999_123_456_789n)]]);
    const spend = await outbox.spend(0);
    expect(spend.byAuthId.map((e) => [e.key, e.events, e.feeWei])).toEqual(listed(all));
    const total = [...all.values()].reduce((a, e) => a + e.fee, 0n);
    expect(spend.byOrchestrator).toEqual([{ key: "0xorch", events: n, feeWei: total.toString() }]);
    const none = { keys: 0, events: 0, feeWei: "0" };
    expect(spend.moreByAuthId).toEqual(none);
    expect(await outbox.spend(Date.now() + 60_000)).toEqual({ byAuthId: [], byOrchestrator: [], moreByAuthId: none, moreByOrchestrator: none });
    // A ninth query while eight wait is refused; the eight are answered.
    const queries = Array.from({ length: 9 }, () => outbox.spend(0));
    await expect(queries[8]).rejects.toThrow(/too many spend queries under way/);
    for (const q of queries.slice(0, 8)) expect(await q).toEqual(spend);
  } finally {
    outbox.close();
  }
});

/** The whole outbox's spend, how long it took, and the event loop's longest gap meanwhile. */
async function timedSpend(outbox: Outbox) {
  const loop = watchEventLoop(2);
  const t0 = performance.now();
  const spend = await outbox.spend(0);
  const took = performance.now() - t0;
  return { spend, took, longestGap: loop.stop() };
}

test("spend lists hold the 100 largest, sorted on the reader's thread; the rest are summed (a window of 50,000 auth ids)", async () => {
  const path = fresh();
  const outbox = openOutbox({ path, maxBytes: 1 << 30, maxCount: 1e7, synchronous: "normal" });
  try {
    // Auth id i pays i + 1 wei, twice; orchestrators: 3.
    const ids = 50_000;
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < ids; i += 10_000) {
        await outbox.append(
          Array.from({ length: 10_000 }, (_, j) => ({ id: `m-${round}-${i + j}`, key: "k", value: "v", spend: { authId: `user-${i + j}`, orchestrator: `orch-${(i + j) % 3}`, feeWei: BigInt(i + j + 1) } })),
        );
      }
    }
    const { spend, took, longestGap } = await timedSpend(outbox);
    expect(spend.byAuthId).toHaveLength(100);
    expect(spend.byAuthId[0]).toEqual({ key: `user-${ids - 1}`, events: 2, feeWei: String(2 * ids) });
    expect(spend.byAuthId[99]).toEqual({ key: `user-${ids - 100}`, events: 2, feeWei: String(2 * (ids - 99)) });
    // The rest: ids - 100 auth ids paying 1 .. ids - 100 wei, twice each.
    const restFee = BigInt(ids - 100) * BigInt(ids - 99); // 2 * (1 + ... + (ids - 100))
    expect(spend.moreByAuthId).toEqual({ keys: ids - 100, events: 2 * (ids - 100), feeWei: restFee.toString() });
    expect(spend.byOrchestrator.map((e) => e.key)).toHaveLength(3);
    expect(spend.moreByOrchestrator).toEqual({ keys: 0, events: 0, feeWei: "0" });
    // The sort and the cut are not on the event loop.
    expect(longestGap).toBeLessThan(took / 2);
  } finally {
    outbox.close();
  }
}, 60_000);

test("a spend query over many events keeps the event loop free while it reads", async () => {
  const path = fresh();
  const outbox = openOutbox({ path, maxBytes: 1 << 30, maxCount: 1e7, synchronous: "normal" });
  try {
    for (let i = 0; i < 200_000; i += 20_000) {
      await outbox.append(Array.from({ length: 20_000 }, (_, j) => ({ id: `e-${i + j}`, key: "k", value: "v", spend: { authId: `auth-${j % 100}`, orchestrator: `orch-${j % 10}`, feeWei: BigInt(j) } })));
    }
    const { spend, took, longestGap } = await timedSpend(outbox);
    expect(spend.byAuthId).toHaveLength(100);
    expect(spend.byOrchestrator.reduce((a, e) => a + e.events, 0)).toBe(200_000);
    // On the event loop, the query would be its longest gap.
    expect(longestGap).toBeLessThan(took / 2);
  } finally {
    outbox.close();
  }
}, 60_000);

/** A file as earlier versions made it: a unique index on ids, and `more` SQL after the schema. */
function earlierFile(path: string, more = ""): Database.Database {
  const old = new Database(path);
  old.pragma("journal_mode = WAL");
  old.exec(`
    CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, key TEXT NOT NULL, value BLOB NOT NULL,
      created_at_ms INTEGER NOT NULL, auth_id TEXT, orchestrator TEXT, fee_wei TEXT);
    CREATE INDEX events_created ON events (created_at_ms);
    CREATE TABLE meta (one INTEGER PRIMARY KEY CHECK (one = 1), count INTEGER NOT NULL, bytes INTEGER NOT NULL, delivered INTEGER NOT NULL, failed INTEGER NOT NULL);
    INSERT INTO meta VALUES (1, 0, 0, 0, 0);
    ${more}`);
  return old;
}

test("a file whose counters were kept by per-row triggers: they are dropped, the counts stay exact", async () => {
  const path = fresh();
  const old = earlierFile(
    path,
    `CREATE TRIGGER events_ins AFTER INSERT ON events BEGIN
      UPDATE meta SET count = count + 1, bytes = bytes + length(NEW.key) + length(NEW.value) WHERE one = 1;
    END;
    CREATE TRIGGER events_del AFTER DELETE ON events BEGIN
      UPDATE meta SET count = count - 1, bytes = bytes - length(OLD.key) - length(OLD.value) WHERE one = 1;
    END;`,
  );
  const ins = old.prepare("INSERT INTO events (id, key, value, created_at_ms) VALUES (?, ?, ?, ?)");
  for (let i = 1; i <= 3; i++) ins.run(`id-${i}`, `id-${i}`, Buffer.from(value(i)), Date.now());
  old.close();

  const outbox = openOutbox({ path, maxBytes: 1 << 20, maxCount: 100 });
  try {
    expect(outbox.stats().depth).toBe(3);
    await outbox.append([event(4), event(5)]);
    await outbox.delivered([outbox.oldest(1)[0]!.seq]);
    expect(outbox.stats().depth).toBe(4);
    expectCounters(outbox, path);
  } finally {
    outbox.close();
  }
  const db = new Database(path, { readonly: true });
  expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").all()).toEqual([]);
  db.close();
});

test("a file with the unique index on ids of earlier versions is rebuilt without it: rows, seqs and the seq counter kept; retries still stored once", async () => {
  const path = fresh();
  const old = earlierFile(path);
  const ins = old.prepare("INSERT INTO events (id, key, value, created_at_ms, fee_wei) VALUES (?, ?, ?, ?, ?)");
  for (let i = 1; i <= 5; i++) ins.run(`id-${i}`, `id-${i}`, Buffer.from(value(i)), 1000 + i, String(i));
  // Two delivered already: the counter is past the last row.
  old.exec("DELETE FROM events WHERE seq >= 4");
  old.prepare("UPDATE meta SET count = 3, bytes = ? WHERE one = 1").run(size(1) + size(2) + size(3));
  old.close();

  let outbox = openOutbox({ path, maxBytes: 1 << 20, maxCount: 100 });
  try {
    expect(outbox.oldest(10).map((r) => [r.seq, r.id, r.createdAtMs])).toEqual([
      [1, "id-1", 1001],
      [2, "id-2", 1002],
      [3, "id-3", 1003],
    ]);
    // A retry of a stored event is kept out; a new one takes the seq after every earlier one.
    await outbox.append([event(2), event(6)]);
    expect(outbox.oldest(10).map((r) => [r.seq, r.id])).toEqual([
      [1, "id-1"],
      [2, "id-2"],
      [3, "id-3"],
      [6, "id-6"],
    ]);
    expectCounters(outbox, path);
  } finally {
    outbox.close();
  }
  // Reopened: the ids in the file are remembered again.
  outbox = openOutbox({ path, maxBytes: 1 << 20, maxCount: 100 });
  try {
    await outbox.append([event(6), event(1), event(7)]);
    expect(outbox.oldest(10).map((r) => r.id)).toEqual(["id-1", "id-2", "id-3", "id-6", "id-7"]);
    expectCounters(outbox, path);
  } finally {
    outbox.close();
  }
  const db = new Database(path, { readonly: true });
  expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' ORDER BY name").pluck().all()).toEqual(["events_created"]);
  expect(db.prepare("SELECT sql FROM sqlite_master WHERE name = 'events'").pluck().get()).not.toMatch(/UNIQUE/);
  db.close();
});

test("a retry is kept out while its first copy is among the latest ids the outbox remembers, oldest forgotten first", async () => {
  const path = fresh();
  const outbox = openOutbox({ path, maxBytes: 1 << 20, maxCount: 100, recentIds: 3 });
  try {
    for (const i of [1, 2, 3, 4]) await outbox.append([event(i)]);
    // Remembered: 2, 3, 4. A retry of 3 is kept out; 1 was forgotten, so its retry is stored again.
    await outbox.append([event(3)]);
    await outbox.append([event(1)]);
    expect(outbox.oldest(10).map((r) => r.id)).toEqual(["id-1", "id-2", "id-3", "id-4", "id-1"]);
    // Now remembered: 3, 4, 1 (2 was the oldest).
    await outbox.append([event(4), event(2), event(1)]);
    expect(outbox.oldest(10).map((r) => r.id)).toEqual(["id-1", "id-2", "id-3", "id-4", "id-1", "id-2"]);
    expectCounters(outbox, path);
  } finally {
    outbox.close();
  }
});

test("without delivery, a retry at the quota makes no room: the oldest event stays", async () => {
  const path = fresh();
  const outbox = openOutbox({ path, maxBytes: 1 << 20, maxCount: 3, retentionMs: 3_600_000 });
  try {
    for (const i of [1, 2, 3]) await outbox.append([event(i)]);
    await outbox.append([event(3)]);
    expect(outbox.oldest(10).map((r) => r.id)).toEqual(["id-1", "id-2", "id-3"]);
    // A new one does: the oldest goes.
    await outbox.append([event(4)]);
    expect(outbox.oldest(10).map((r) => r.id)).toEqual(["id-2", "id-3", "id-4"]);
    expectCounters(outbox, path);
  } finally {
    outbox.close();
  }
});

test("a failed delivery's count is added by the writer thread: a write lock held elsewhere neither stalls nor fails the caller", async () => {
  const path = fresh();
  const outbox = openOutbox({ path, maxBytes: 1e9, maxCount: 1e6 });
  try {
    await outbox.append([event(1)]);
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    const t0 = performance.now();
    outbox.failed(3);
    expect(performance.now() - t0).toBeLessThan(20);
    await new Promise((r) => setTimeout(r, 300));
    other.exec("ROLLBACK");
    other.close();
    const deadline = Date.now() + 10_000;
    while (outbox.stats().failed !== 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(outbox.stats().failed).toBe(3);
  } finally {
    outbox.close();
  }
});

test("another program's database (-eventsDb pointing at it) is refused and left byte for byte as it was; a reader never writes", () => {
  const foreign = fresh();
  const other = new Database(foreign);
  other.exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO accounts (name) VALUES ('a')");
  other.close();
  const before = readFileSync(foreign);
  for (const readOnly of [false, true]) {
    expect(() => openOutbox({ path: foreign, maxBytes: 1 << 20, maxCount: 100, readOnly })).toThrow("not an event outbox: a database of other tables (accounts)");
    expect(readFileSync(foreign).equals(before)).toBe(true);
    expect(existsSync(`${foreign}-wal`)).toBe(false);
  }
  // An empty file: a writer makes it an outbox, a reader does not.
  const empty = fresh();
  writeFileSync(empty, "");
  expect(() => openOutbox({ path: empty, maxBytes: 1 << 20, maxCount: 100, readOnly: true })).toThrow("no event outbox in this file");
  expect(readFileSync(empty).length).toBe(0);
  openOutbox({ path: empty, maxBytes: 1 << 20, maxCount: 100 }).close();
  openOutbox({ path: empty, maxBytes: 1 << 20, maxCount: 100, readOnly: true }).close();
});
