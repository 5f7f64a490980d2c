/**
 * The event outbox: an SQLite file (WAL) that the signer appends to before it replies, and that
 * delivery (Kafka) or `lpsigner events` reads from.
 *
 * Durability: an append resolves once its commit is on disk: the events of an event-loop turn are
 * committed in one transaction (synchronous=NORMAL: the WAL is written), and the WAL file is then
 * fsynced, the same sync synchronous=FULL would make inside the commit, before the appends
 * resolve; the event loop never waits for the fsync. A process that writes alone does both on a
 * writer thread, which also removes delivered rows; a -workers worker instead writes a journal of
 * its own and fsyncs it on libuv's pool, and the primary's thread moves it into the file (see
 * writerThread, onJournal and journal.ts for why). An event whose reply was sent survives a
 * process kill and a power loss. Appends are group-committed: while a commit and its fsync run, the
 * next turns' events gather for the following one.
 *
 * Checkpoints (copying the WAL into the database file, with fsyncs of their own) run on a thread of
 * their own; no commit carries one.
 *
 * Every process that answers payments writes the one file; `lpsigner events` opens it to read. The
 * quota counters live in the file (the meta row, written in the same transaction as the rows it
 * counts: once per commit, not per row). Deletes (delivered, retention) are not fsynced: a power
 * loss may undo one, which only means an event is delivered again (at least once).
 */
import type BetterSqlite3 from "better-sqlite3";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { Worker } from "node:worker_threads";
import * as fs from "node:fs";
import * as zlib from "node:zlib";
import { MAKE_INGEST, journalDir, openJournal, type Journal, type JournalRow } from "./journal.js";

export interface OutboxRow { seq: number; id: string; key: string; value: Uint8Array; createdAtMs: number }

export interface OutboxStats {
  depth: number;
  oldestAgeMs: number;
  bytes: number;
  delivered: number;
  failed: number;
  /** The WAL file's size: bounded while checkpoints keep up (WAL_SIZE_LIMIT after each restart). */
  walBytes: number;
  /** A -workers primary whose thread cannot move the workers' journals in: why (they pile up on disk). */
  journalProblem?: string;
}

/**
 * An event to append; `spend` (a payment's auth id, orchestrator and fee) feeds spend(). A string
 * value is stored as its UTF-8 bytes (encoded as it is committed).
 */
export interface OutboxEvent {
  id: string;
  key: string;
  value: Uint8Array | string;
  spend?: { authId: string; orchestrator: string; feeWei: bigint };
}

/** Fees by auth id and by orchestrator since a time (wei, decimal strings). */
export interface SpendSummary {
  /** Largest fee first (ties by key), SPEND_LIST_MAX at most; the rest summed in moreByAuthId. */
  byAuthId: { key: string; events: number; feeWei: string }[];
  byOrchestrator: { key: string; events: number; feeWei: string }[];
  moreByAuthId: SpendRest;
  moreByOrchestrator: SpendRest;
}

/** What a spend list leaves out, summed. */
export interface SpendRest {
  keys: number;
  events: number;
  feeWei: string;
}

export interface Outbox {
  /** Durable before it resolves (group commit allowed); rejects OutboxUnavailableError (full, disk error). */
  append(events: OutboxEvent[]): Promise<void>;
  /** The oldest undelivered rows, at most `limit`, in seq order. */
  oldest(limit: number): OutboxRow[];
  /** Delivered: removed by the thread that writes the file (resolves once they are gone); the owning process only. */
  delivered(seqs: number[]): Promise<void>;
  /** Failed delivery attempt (counted). */
  failed(count: number): void;
  stats(): OutboxStats;
  /**
   * With retentionMs: remove rows older than it, by the thread that writes the file, a chunk at a
   * time between its commits; resolves with how many (the owning process only). `signal` stops it
   * after the chunk under way.
   */
  prune(signal?: AbortSignal): Promise<number>;
  /** Rows after `afterSeq` written at or after `sinceMs`, at most `limit`, in seq order (what `lpsigner events` prints). */
  since(sinceMs: number, afterSeq: number, limit: number): OutboxRow[];
  /**
   * Spend of the events in the outbox written at or after `sinceMs`, read on a thread of its own
   * (the query reads every event of the window); queries are answered in order, and with
   * SPEND_QUERIES_WAITING waiting another rejects OutboxUnavailableError.
   */
  spend(sinceMs: number): Promise<SpendSummary>;
  close(): void;
}

/** A process's part in writing the outbox file (OutboxOptions.role). */
export type OutboxRole = "only" | "primary" | "worker";

export interface OutboxOptions {
  path: string;
  /** Quota over all rows: bytes of key + value. */
  maxBytes: number;
  /** Quota over all rows: number of events. */
  maxCount: number;
  /**
   * Set when nothing delivers (the embedded default): rows older than this are pruned, and at the
   * quota the oldest rows make room instead of the append failing. Unset: rows stay until
   * delivered(), and a full outbox rejects appends (the caller answers unavailable).
   */
  retentionMs?: number;
  /** "full" (default): a commit is fsynced. "normal": survives a process kill, not a power loss. */
  synchronous?: "full" | "normal";
  /** Reading only (`lpsigner events`): no checkpoints; append() rejects. */
  readOnly?: boolean;
  /**
   * Who writes the file. "only" (default): this process alone; its checkpointer thread copies the
   * WAL, and between its own commits it finishes a checkpoint now and then, so the WAL restarts.
   * "primary": the -workers primary, whose workers append too: its thread also restarts a long WAL.
   * "worker": a -workers worker: it appends, and leaves checkpoints to the primary.
   */
  role?: OutboxRole;
  /** A worker's journal segment size (journal.ts; tests make it small). */
  journalSegmentBytes?: number;
  /** How many of the latest ids an inserter remembers (RECENT_IDS; tests make it small). */
  recentIds?: number;
}

/** The outbox cannot take the event (quota reached, disk error): the call must be answered unavailable. */
export class OutboxUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutboxUnavailableError";
  }
}

// -workers journals (journal.ts): how far each segment has been moved into events, and how much of
// each writer's journal has (what its quota check subtracts from what it wrote).
const JOURNAL_SCHEMA = `
CREATE TABLE IF NOT EXISTS journal_segments (name TEXT PRIMARY KEY, offset INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS journal_owners (owner TEXT PRIMARY KEY, events INTEGER NOT NULL, bytes INTEGER NOT NULL);
`;
const EVENTS_TABLE = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  -- no index on ids: duplicates are kept out by MAKE_COMMIT's window of recent ids
  id TEXT NOT NULL,
  key TEXT NOT NULL,
  value BLOB NOT NULL,
  created_at_ms INTEGER NOT NULL,
  auth_id TEXT,
  orchestrator TEXT,
  -- decimal text: fees are exact integers that may pass 2^63
  fee_wei TEXT
);`;
const SCHEMA = `${EVENTS_TABLE}
CREATE INDEX IF NOT EXISTS events_created ON events (created_at_ms);
CREATE TABLE IF NOT EXISTS meta (
  one INTEGER PRIMARY KEY CHECK (one = 1),
  count INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  delivered INTEGER NOT NULL,
  failed INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta VALUES (1, 0, 0, 0, 0);
${JOURNAL_SCHEMA}`;

// The addon is loaded by the first open: a signer with events off never loads it.
let Database: typeof BetterSqlite3 | undefined;

/**
 * Open (creating) the file with the schema, on this thread (the threads open it after). A reader
 * changes nothing in it; and a database that holds other tables but no outbox (-eventsDb pointing
 * at another program's file) is refused untouched.
 */
function openDb(path: string, readOnly: boolean): BetterSqlite3.Database {
  Database ??= createRequire(import.meta.url)("better-sqlite3") as typeof BetterSqlite3;
  const db = new Database(path, { timeout: 10_000 });
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
  if (!(tables.includes("events") && tables.includes("meta")) && (readOnly || tables.length > 0)) {
    db.close();
    throw new Error(tables.length === 0 ? "no event outbox in this file" : `not an event outbox: a database of other tables (${tables.slice(0, 5).join(", ")})`);
  }
  if (readOnly) return db;
  // Writes only when the file is new: opening an existing outbox takes no write lock.
  if (db.pragma("journal_mode", { simple: true }) !== "wal") db.pragma("journal_mode = WAL");
  // Commits are made durable by an fsync of the WAL (openOutbox), not inside SQLite.
  db.pragma("synchronous = NORMAL");
  db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
  // A new file (another process may be making it too: the schema's statements are IF NOT EXISTS).
  if (tables.length === 0) db.transaction(() => db.exec(SCHEMA)).immediate();
  // A file from the first version of the schema (before the spend columns) gets them.
  const hasSpend = () => (db.pragma("table_info(events)") as { name: string }[]).some((c) => c.name === "auth_id");
  if (!hasSpend()) {
    db.transaction(() => {
      if (hasSpend()) return; // another process did it meanwhile
      for (const c of ["auth_id", "orchestrator", "fee_wei"]) db.exec(`ALTER TABLE events ADD COLUMN ${c} TEXT`);
      db.exec("CREATE INDEX IF NOT EXISTS events_created ON events (created_at_ms)");
    }).immediate();
  }
  // A file from before the window of recent ids has a unique index on them: the table is rebuilt
  // without it (rows, seqs and the seq counter kept).
  const uniqueIds = () => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'sqlite_autoindex_events_1'").get() !== undefined;
  if (uniqueIds()) {
    db.transaction(() => {
      if (!uniqueIds()) return; // another process did it
      const counter = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").pluck().get() as number | undefined;
      db.exec(`ALTER TABLE events RENAME TO events_unique;
        ${EVENTS_TABLE}
        INSERT INTO events (seq, id, key, value, created_at_ms, auth_id, orchestrator, fee_wei)
          SELECT seq, id, key, value, created_at_ms, auth_id, orchestrator, fee_wei FROM events_unique;
        DROP TABLE events_unique;
        CREATE INDEX IF NOT EXISTS events_created ON events (created_at_ms);`);
      if (counter !== undefined) db.prepare("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'events'").run(counter);
    }).immediate();
  }
  // A file from before the journals gets their tables.
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal_owners'").get()) db.transaction(() => db.exec(JOURNAL_SCHEMA)).immediate();
  // Earlier files kept meta's count and bytes with per-row triggers; they are now written once per
  // transaction by whoever inserts or deletes (the triggers would count twice).
  const triggers = () => db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'trigger' AND name IN ('events_ins', 'events_del')").get() as { n: number };
  if (triggers().n > 0) {
    db.transaction(() => {
      db.exec("DROP TRIGGER IF EXISTS events_ins; DROP TRIGGER IF EXISTS events_del");
    }).immediate();
  }
  return db;
}

// The transaction that stores a batch, as JavaScript source: built into a function on the thread
// that inserts (a single process's writer thread, a -workers primary's thread as it moves the
// journals in, and the primary's event loop at its start and close), so the quota logic exists
// once. It takes the rows flat (ROW_FIELDS per event: id, key, value, auth id, orchestrator, fee,
// created at (ms; null: now): one array crosses to a thread cheaper than an object per event) and
// returns per event true (stored, or already there) or false (no room). The quota counters are read
// and written once, in the same transaction.
//
// A retried call's event has the same id: it is stored once if its first copy is among the last
// RECENT_IDS ids this inserter has seen (loaded from the file at start). A unique index on the
// random ids would make every insert dirty a page of its own (measured: twice the CPU per insert,
// 4.5 times the WAL, and 13-18 % of the signer's throughput); a retry older than the window is
// stored twice, which at-least-once delivery allows (consumers deduplicate by id).
const MAKE_COMMIT = `(db, { maxBytes, maxCount, ring, rowFields: FIELDS, recentIds }) => {
  // The ids in a ring, oldest out first (a Set's own first entry is dear to find after many deletes).
  const recent = new Set();
  const order = new Array(recentIds);
  let turn = 0;
  const remember = (id) => {
    if (recent.size === recentIds) recent.delete(order[turn]);
    recent.add(id);
    order[turn] = id;
    turn = (turn + 1) % recentIds;
  };
  const latest = db.prepare("SELECT id FROM events ORDER BY seq DESC LIMIT ?").pluck().all(recentIds);
  for (let i = latest.length - 1; i >= 0; i--) remember(latest[i]);
  const meta = db.prepare("SELECT count, bytes FROM meta WHERE one = 1");
  const setMeta = db.prepare("UPDATE meta SET count = ?, bytes = ? WHERE one = 1");
  const insert = db.prepare("INSERT OR IGNORE INTO events (id, key, value, created_at_ms, auth_id, orchestrator, fee_wei) VALUES (?, ?, ?, ?, ?, ?, ?)");
  const oldest = db.prepare("SELECT seq, length(key) + length(value) AS n FROM events ORDER BY seq LIMIT 256");
  const del = db.prepare("DELETE FROM events WHERE seq = ?");
  const commit = db.transaction((rows) => {
    const m = meta.get();
    let count = m.count, bytes = m.bytes;
    const now = Date.now();
    const out = [];
    for (let i = 0; i < rows.length; i += FIELDS) {
      // A retry's copy: stored already (it makes no room, and is never refused).
      if (recent.has(rows[i])) { out.push(true); continue; }
      const key = rows[i + 1];
      const value = typeof rows[i + 2] === "string" ? Buffer.from(rows[i + 2]) : rows[i + 2];
      const size = Buffer.byteLength(key) + value.byteLength;
      const full = () => count + 1 > maxCount || bytes + size > maxBytes;
      // Embedded default: the oldest retained events make room.
      while (ring && count > 0 && full()) {
        for (const r of oldest.all()) {
          if (!full()) break;
          del.run(r.seq); count -= 1; bytes -= r.n;
        }
      }
      if (full()) { out.push(false); continue; }
      if (insert.run(rows[i], key, value, rows[i + 6] ?? now, rows[i + 3], rows[i + 4], rows[i + 5]).changes === 1) { count += 1; bytes += size; }
      remember(rows[i]);
      out.push(true);
    }
    if (count !== m.count || bytes !== m.bytes) setMeta.run(count, bytes);
    return out;
  });
  return (rows) => commit.immediate(rows);
}`;
// The transaction that removes delivered rows (returns how many), as JavaScript source for the same
// reason: the thread that writes the file runs it (DELIVERY_WRITES: a lone writer's, a -workers
// primary's checkpointer), so no other connection then writes. meta's count and bytes go down in
// the same transaction. A delivery's seqs are the oldest rows, so nearly always one run of
// consecutive numbers: each run is one range delete (measured: 6-7 µs a row against 15-16 µs with
// a statement per row, 500-row batches).
const MAKE_REMOVE = `(db) => {
  const del = db.prepare("DELETE FROM events WHERE seq BETWEEN ? AND ? RETURNING length(key) + length(value) AS n");
  const add = db.prepare("UPDATE meta SET count = count - ?, bytes = bytes - ?, delivered = delivered + ? WHERE one = 1");
  const remove = db.transaction((seqs) => {
    const sorted = Float64Array.from(seqs).sort();
    let n = 0, bytes = 0;
    for (let i = 0; i < sorted.length; ) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1] <= sorted[j] + 1) j++;
      for (const r of del.all(sorted[i], sorted[j])) { n += 1; bytes += r.n; }
      i = j + 1;
    }
    add.run(n, bytes, n);
    return n;
  });
  return (seqs) => remove.immediate(seqs);
}`;
// Retention: at most `limit` of the rows written before a time, oldest first, in one transaction
// (meta's count and bytes with them); returns how many went. A chunk, not all at once: the thread
// that runs it also commits the payments' events, which wait behind it.
const MAKE_PRUNE = `(db) => {
  const del = db.prepare("DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE created_at_ms < ? ORDER BY seq LIMIT ?) RETURNING length(key) + length(value) AS n");
  const subtract = db.prepare("UPDATE meta SET count = count - ?, bytes = bytes - ? WHERE one = 1");
  const prune = db.transaction((before, limit) => {
    let n = 0, bytes = 0;
    for (const r of del.all(before, limit)) { n += 1; bytes += r.n; }
    if (n > 0) subtract.run(n, bytes);
    return n;
  });
  return (before, limit) => prune.immediate(before, limit);
}`;
// The delivery's and retention's writes on the thread that writes the file. A removal
// ({ removal: n, seqs }, or a prune: { removal: n, before, limit }) is answered { removed: n, count }
// once the rows are gone, or { removed: n, error } (deliveryWritesTo settles it). A failed attempt's
// count ({ failedCount }) is added without an answer: a count lost to a disk error only
// understates the metric.
const DELIVERY_WRITES = `(db, port) => {
  const remove = (${MAKE_REMOVE})(db);
  const prune = (${MAKE_PRUNE})(db);
  const addFailed = db.prepare("UPDATE meta SET failed = failed + ? WHERE one = 1");
  return (m) => {
    if (m.failedCount !== undefined) {
      try { addFailed.run(m.failedCount); } catch {}
      return;
    }
    try {
      const count = m.before !== undefined ? prune(m.before, m.limit) : remove(m.seqs);
      port.postMessage({ removed: m.removal, count });
    } catch (err) {
      port.postMessage({ removed: m.removal, error: "outbox removal failed: " + String((err && err.message) || err) });
    }
  };
}`;
interface Limits { maxBytes: number; maxCount: number; ring: boolean; rowFields: number; recentIds: number }
type MakeCommit = (db: BetterSqlite3.Database, limits: Limits) => (rows: unknown[]) => boolean[];
type MakeIngest = (db: BetterSqlite3.Database, commit: (rows: unknown[]) => boolean[], where: { dir: string; walPath: string }, fsModule: typeof fs, zlibModule: typeof zlib) => (everything: boolean) => number;
/** One of the sources above as a function on this thread. */
const fromSource = <T>(source: string): T => new Function(`return ${source}`)() as T;

// The writer thread (plain CommonJS, so it runs the same under node, tsx and vitest) of a process
// that writes alone: the event loop hands it each turn's events in one message, and it commits
// them, fsyncs the WAL, and answers. While it works the next turns' messages queue, and it takes
// them all into its next transaction (group commit). It also removes delivered and expired rows
// (not fsynced, as everywhere), so the event loop never waits for its write lock. Every
// FINISH_EVERY_COMMITS it finishes a checkpoint (see CHECKPOINTER). In: { n, rows }, a removal
// ({ removal, seqs } or { removal, before, limit }) or a failure count ({ failedCount }). Out, per
// transaction: { ns, stored } (stored in the order of the messages it took) or { ns, error }; per
// removal: { removed, count } or { removed, error }; a failure count, nothing (see DELIVERY_WRITES).
const WRITER = `
const { parentPort, workerData, receiveMessageOnPort } = require("node:worker_threads");
const { fdatasyncSync, openSync } = require("node:fs");
const Database = require(workerData.sqlitePath);
const { path, durable, finishEvery, walSizeLimit, cacheKiB } = workerData;
const db = new Database(path, { timeout: 1000 });
db.pragma("synchronous = NORMAL");
db.pragma("cache_size = -" + cacheKiB);
db.pragma("wal_autocheckpoint = 0");
db.pragma("journal_size_limit = " + walSizeLimit);
const commit = (${MAKE_COMMIT})(db, workerData);
const deliveryWrite = (${DELIVERY_WRITES})(db, parentPort);
let walFd;
let commits = 0;
parentPort.on("message", (first) => {
  let batches = [first];
  for (let m; (m = receiveMessageOnPort(parentPort)); ) batches.push(m.message);
  const delivery = (b) => b.removal !== undefined || b.failedCount !== undefined;
  if (batches.some(delivery)) {
    for (const b of batches) if (delivery(b)) deliveryWrite(b);
    batches = batches.filter((b) => !delivery(b));
    if (batches.length === 0) return;
  }
  const rows = batches.length === 1 ? batches[0].rows : batches.flatMap((b) => b.rows);
  let stored, error;
  try {
    stored = commit(rows);
    if (durable) {
      walFd ??= openSync(path + "-wal", "r");
      fdatasyncSync(walFd);
    }
  } catch (err) {
    error = "outbox write failed: " + String((err && err.message) || err);
  }
  const ns = batches.map((b) => b.n);
  parentPort.postMessage(error ? { ns, error } : { ns, stored });
  if (finishEvery > 0 && ++commits >= finishEvery) {
    commits = 0;
    try { db.pragma("wal_checkpoint(PASSIVE)"); } catch {}
  }
});
`;

// The checkpointer thread: it copies the WAL into the database file and fsyncs it, so no commit
// carries a checkpoint (PASSIVE: it never waits for or blocks a writer). Only after a complete
// checkpoint can the next writer restart the WAL from its beginning, and under steady commits a
// checkpoint from another thread is rarely complete (a commit lands during it). A lone writer
// finishes the checkpoint itself, between its commits, when little is left to copy. A -workers
// primary's thread also moves the workers' journals into the file (MAKE_INGEST) before each
// checkpoint, removes delivered rows (so no other connection of the primary writes, and none waits
// for this one's lock), and once the WAL is long runs a RESTART checkpoint.
const CHECKPOINTER = `
const { parentPort, workerData } = require("node:worker_threads");
const fs = require("node:fs");
const zlib = require("node:zlib");
const Database = require(workerData.sqlitePath);
const db = new Database(workerData.path, { timeout: 1000 });
db.pragma("synchronous = NORMAL");
db.pragma("cache_size = -" + workerData.cacheKiB);
db.pragma("wal_autocheckpoint = 0");
const ingest = workerData.ingest ? (${MAKE_INGEST})(db, (${MAKE_COMMIT})(db, workerData.ingest.limits), workerData.ingest, fs, zlib) : undefined;
if (ingest) parentPort.on("message", (${DELIVERY_WRITES})(db, parentPort));
// An ingestion that fails is reported (and its clearing), not thrown: the next pass tries again.
let failing = null;
setInterval(() => {
  if (ingest) {
    let error = null;
    try { ingest(false); } catch (err) { error = String((err && err.message) || err); }
    if (error !== failing) parentPort.postMessage({ ingestError: error });
    failing = error;
  }
  try {
    const r = db.pragma("wal_checkpoint(PASSIVE)")[0];
    if (workerData.restartFrames > 0 && r.log > workerData.restartFrames) db.pragma("wal_checkpoint(RESTART)");
  } catch {}
}, workerData.everyMs);
`;
// The spend reader (GetSpend, which the dashboard polls): its query reads every event of its window,
// up to the count quota (two million by default), so it runs on a thread of its own, started at
// the first query, and the event loop never waits for it. Fees are decimal text (exact, and they
// may pass 2^63 wei): SQLite sums their last 9 digits and the digits before them as integers,
// exact while neither sum passes 2^63 (SQLite's sum then fails) and no fee has more than 27 digits
// (its CAST would clamp the leading 18); otherwise, or with a negative fee, the fees are summed
// one by one as BigInts. In: { sinceMs }; out, in order: { summary } or { error }.
const SPEND_READER = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.sqlitePath);
const db = new Database(workerData.path, { timeout: 1000 });
db.pragma("cache_size = -" + workerData.cacheKiB);
const where = "FROM events WHERE created_at_ms >= ? AND fee_wei IS NOT NULL";
// One pass over the window for both lists: by pair of auth id and orchestrator.
const pairs = db.prepare("SELECT auth_id AS auth, orchestrator AS orch, count(*) AS events, " +
  "max(fee_wei GLOB '-*') AS negative, max(length(fee_wei)) AS longest, " +
  "sum(CAST(substr(fee_wei, -9) AS INTEGER)) AS lo, " +
  "sum(CASE WHEN length(fee_wei) > 9 THEN CAST(substr(fee_wei, 1, length(fee_wei) - 9) AS INTEGER) ELSE 0 END) AS hi " +
  where + " GROUP BY auth_id, orchestrator").safeIntegers(true);
const each = db.prepare("SELECT auth_id AS auth, orchestrator AS orch, fee_wei AS fee " + where);
const BILLION = 1000000000n;
const spend = (sinceMs) => {
  const byAuth = new Map(), byOrch = new Map();
  const add = (map, key, events, fee) => {
    const e = map.get(key);
    if (e) { e.events += events; e.fee += fee; } else map.set(key, { key, events, fee });
  };
  let rows;
  try {
    rows = pairs.all(sinceMs);
  } catch (err) {
    if (!/overflow/.test(String(err && err.message))) throw err;
  }
  if (rows && !rows.some((r) => r.negative || r.longest > 27n)) {
    for (const r of rows) {
      const fee = r.hi * BILLION + r.lo, n = Number(r.events);
      add(byAuth, r.auth, n, fee);
      add(byOrch, r.orch, n, fee);
    }
  } else {
    for (const r of each.iterate(sinceMs)) {
      const fee = BigInt(r.fee);
      add(byAuth, r.auth, 1, fee);
      add(byOrch, r.orch, 1, fee);
    }
  }
  // Sorted and cut here, off the event loop: a window may hold hundreds of thousands of auth ids.
  const list = (map) => {
    const all = [...map.values()].sort((a, b) => (b.fee > a.fee ? 1 : b.fee < a.fee ? -1 : (a.key ?? "").localeCompare(b.key ?? "")));
    const rest = { keys: 0, events: 0, fee: 0n };
    for (let i = workerData.listMax; i < all.length; i++) {
      rest.keys += 1;
      rest.events += all[i].events;
      rest.fee += all[i].fee;
    }
    const entries = all.slice(0, workerData.listMax).map((e) => ({ key: e.key, events: e.events, feeWei: e.fee.toString() }));
    return [entries, { keys: rest.keys, events: rest.events, feeWei: rest.fee.toString() }];
  };
  const [byAuthId, moreByAuthId] = list(byAuth);
  const [byOrchestrator, moreByOrchestrator] = list(byOrch);
  return { byAuthId, byOrchestrator, moreByAuthId, moreByOrchestrator };
};
parentPort.on("message", ({ sinceMs }) => {
  try {
    parentPort.postMessage({ summary: spend(sinceMs) });
  } catch (err) {
    parentPort.postMessage({ error: String((err && err.message) || err) });
  }
});
`;
const ROW_FIELDS = 7;
// Spend queries waiting for the spend reader at most (the dashboard asks one every 10 s).
const SPEND_QUERIES_WAITING = 8;
// Entries per spend list (the dashboard shows 10); the rest are summed (SpendRest).
const SPEND_LIST_MAX = 100;
// Expired rows removed per transaction: a few milliseconds of the writing thread, which commits the
// payments' events between chunks.
const PRUNE_CHUNK = 500;
// The ids an inserter remembers to keep a retry's event out: 13 s of events at 5,000 calls/s, hours
// at usual rates; a gateway retries within seconds. About 5 MB.
const RECENT_IDS = 65_536;
const CHECKPOINT_EVERY_MS = 20;
// A worker's fsyncs in flight at once, on libuv's pool (4 threads unless UV_THREADPOOL_SIZE says otherwise).
const MAX_SYNCS = 2;
// How long the primary's last ingestion, at close, waits for its thread's.
const CLOSE_BUSY_MS = 2000;
// One writer: about 1.5 MB of WAL at the usual six pages per commit.
const FINISH_EVERY_COMMITS = 64;
// Several writers: about 16 MB of WAL, so the RESTART's pause comes every few seconds at most.
const RESTART_FRAMES = 4000;
// After a restart the writer truncates a WAL that grew past this.
const WAL_SIZE_LIMIT = 16 * 1024 * 1024;
// SQLite's page cache per connection (better-sqlite3 builds it with 16 MB each, and an outbox has
// up to three). A cache pays only on the one connection that inserts (a single process's writer
// thread, a -workers primary's thread), which keeps the pages it touches between its commits
// (measured, when ids still had a unique index: with 2 MiB the single process lost 8 % of its
// throughput); the checkpointer copies pages without caching them, delivery reads in order, and a
// worker only reads the counters.
const PAGE_CACHE_KIB = 2048;
const LONE_WRITER_CACHE_KIB = 16384;

// One append() call waiting for its events.
interface Pending { events: OutboxEvent[]; resolve: () => void; reject: (err: Error) => void }

/** Commits one turn's appends (their rows flat) and later settles each of them. */
interface Committer {
  submit(batch: Pending[]): void;
  /** Where the committer alone writes the file, it removes delivered and expired rows (and counts failed attempts) too. */
  remove?(seqs: number[]): Promise<void>;
  prune?(beforeMs: number, signal?: AbortSignal): Promise<number>;
  countFailed?(count: number): void;
  close(): void;
}

/** What a committer reports: per event stored or not, or the batch failed; and that it is gone for good. */
interface Outcomes {
  settle(batch: Pending[], stored: boolean[]): void;
  fail(batch: Pending[], reason: string): void;
  gone(reason: string): void;
}

/** A thread running `source` (CommonJS), with better-sqlite3's path in its workerData; unref'd. */
export function startThread(source: string, workerData: Record<string, unknown>): Worker {
  const sqlitePath = createRequire(import.meta.url).resolve("better-sqlite3");
  // The source is CommonJS: a process started with --input-type=module would eval it as a module.
  // (Only then are the options given: a worker refuses the V8 flags a signer runs with.)
  const moduleInput = (a: string) => a.startsWith("--input-type");
  const execArgv = process.execArgv.some(moduleInput) ? { execArgv: process.execArgv.filter((a) => !moduleInput(a)) } : {};
  const thread = new Worker(source, { eval: true, ...execArgv, workerData: { sqlitePath, ...workerData } });
  thread.unref();
  return thread;
}

interface RemovalAnswer { removed: number; count?: number; error?: string }
type WriterAnswer = { ns: number[]; stored?: boolean[]; error?: string } | RemovalAnswer;
interface DeliveryWrites {
  remove(seqs: number[]): Promise<void>;
  /** Rows written before `beforeMs`, PRUNE_CHUNK at a time until none is left or `signal` aborts; resolves with how many. */
  prune(beforeMs: number, signal?: AbortSignal): Promise<number>;
  /** A failed delivery attempt's count, added by the thread (no answer). */
  countFailed(count: number): void;
  /** Settles the removal a RemovalAnswer is for. */
  answered(m: RemovalAnswer): void;
  /** Removals not yet answered (not what owesOther adds). */
  owes(): boolean;
  /** The thread is gone: every removal waiting, and any later one, fails. */
  lost(reason: string): void;
}

/**
 * The delivery's writes (removals, failure counts) handed to a thread that runs DELIVERY_WRITES,
 * removals settled by its answers; the thread holds the process open while it owes one (or
 * owesOther says it owes something else).
 */
function deliveryWritesTo(thread: Worker, owesOther: () => boolean): DeliveryWrites {
  const waiting = new Map<number, { resolve: (count: number) => void; reject: (err: Error) => void }>();
  let next = 0;
  let lostReason: string | undefined;
  const owes = () => waiting.size > 0 || owesOther();
  const ask = (m: { seqs: number[] } | { before: number; limit: number }) => {
    if (lostReason !== undefined) return Promise.reject(new Error(lostReason));
    if (!owes()) thread.ref();
    const removal = next++;
    const done = new Promise<number>((resolve, reject) => waiting.set(removal, { resolve, reject }));
    thread.postMessage({ removal, ...m });
    return done;
  };
  return {
    async remove(seqs) {
      await ask({ seqs });
    },
    async prune(beforeMs, signal) {
      // Chunk after chunk, each answered before the next is asked: the commits queued meanwhile go first.
      let total = 0;
      for (;;) {
        const n = await ask({ before: beforeMs, limit: PRUNE_CHUNK });
        total += n;
        if (n < PRUNE_CHUNK || signal?.aborted) return total;
      }
    },
    countFailed(count) {
      if (lostReason === undefined) thread.postMessage({ failedCount: count });
    },
    answered(m) {
      const w = waiting.get(m.removed);
      if (!w) return;
      waiting.delete(m.removed);
      if (!owes()) thread.unref();
      if (m.error !== undefined) w.reject(new Error(m.error));
      else w.resolve(m.count ?? 0);
    },
    owes: () => waiting.size > 0,
    lost(reason) {
      lostReason ??= reason;
      for (const w of waiting.values()) w.reject(new Error(reason));
      waiting.clear();
    },
  };
}

/**
 * A process that writes alone: commits and fsyncs on the writer thread, which the event loop only
 * hands rows to (measured: the single process keeps 88 % of its events-off throughput this way,
 * against 70 % committing on its one busy event loop). Started now, or (lazily) at the first append:
 * a -workers primary never appends.
 */
function writerThread(opts: OutboxOptions, limits: Limits, finishEvery: number, lazily: boolean, out: Outcomes): Committer {
  let writer: Worker | undefined;
  let next = 0;
  const inFlight = new Map<number, Pending[]>();
  let deliveryWrites: DeliveryWrites | undefined;
  // The thread holds the process open only while it owes answers.
  const owesNothing = () => inFlight.size === 0 && !deliveryWrites?.owes();
  const start = () => {
    const w = startThread(WRITER, { path: opts.path, durable: opts.synchronous !== "normal", finishEvery, walSizeLimit: WAL_SIZE_LIMIT, cacheKiB: LONE_WRITER_CACHE_KIB, ...limits });
    deliveryWrites = deliveryWritesTo(w, () => inFlight.size > 0);
    w.on("message", (m: WriterAnswer) => {
      if ("removed" in m) return deliveryWrites!.answered(m);
      // The appends of every message the transaction took, in order (none once the thread is lost).
      const batch = m.ns.flatMap((n) => inFlight.get(n) ?? []);
      for (const n of m.ns) inFlight.delete(n);
      if (owesNothing()) w.unref();
      if (m.error !== undefined) out.fail(batch, m.error);
      else out.settle(batch, m.stored!);
    });
    const lost = (reason: string) => {
      for (const batch of inFlight.values()) out.fail(batch, reason);
      inFlight.clear();
      deliveryWrites!.lost(reason);
      out.gone(reason);
    };
    w.on("error", (err) => lost(`outbox writer failed: ${err.message}`));
    w.on("exit", () => lost("outbox writer stopped"));
    return w;
  };
  if (!lazily) writer = start();
  // The delivery's and retention's writes go to the same thread, started by the first of them if need be.
  const writes = () => {
    writer ??= start();
    return deliveryWrites!;
  };
  return {
    submit(batch) {
      const rows: unknown[] = [];
      for (const p of batch) {
        for (const e of p.events) {
          const sp = e.spend;
          rows.push(e.id, e.key, e.value, sp ? sp.authId : null, sp ? sp.orchestrator : null, sp ? sp.feeWei.toString() : null, null);
        }
      }
      writer ??= start();
      const n = next++;
      if (owesNothing()) writer.ref();
      inFlight.set(n, batch);
      writer.postMessage({ n, rows });
    },
    remove: (seqs) => writes().remove(seqs),
    prune: (beforeMs, signal) => writes().prune(beforeMs, signal),
    countFailed: (count) => writes().countFailed(count),
    close() {
      void writer?.terminate();
    },
  };
}

/**
 * A -workers worker: writes its events to a journal of its own and fsyncs it on libuv's pool; the
 * primary's thread moves them into the file (journal.ts). Committing to the shared file on the
 * event loop kept 56-73 % of events-off throughput on 2 cores; the journal, 81-87 % before its
 * ingestion by the primary (docs/operating.md). With delivery (no retention) the quotas are checked
 * here, against the file's counters plus what this worker has journaled and the primary has not yet
 * moved in: another worker's events in flight (milliseconds' worth) can pass them.
 */
function onJournal(db: BetterSqlite3.Database, opts: OutboxOptions, limits: Limits, out: Outcomes): Committer {
  const durable = opts.synchronous !== "normal";
  const journal: Journal = openJournal(journalDir(opts.path), opts.journalSegmentBytes, durable);
  const meta = db.prepare("SELECT count, bytes FROM meta WHERE one = 1");
  const moved = db.prepare("SELECT events, bytes FROM journal_owners WHERE owner = ?");
  // What this worker has journaled (the quota's share not yet in the counters).
  const written = { events: 0, bytes: 0 };
  let waiting: Pending[] = [];
  let syncing = 0;
  let closed = false;
  const run = () => {
    if (syncing >= MAX_SYNCS || closed || waiting.length === 0) return; // an fsync's end runs again
    const batch = waiting;
    waiting = [];
    const rows: JournalRow[] = [];
    const stored: boolean[] = [];
    try {
      let used: { count: number; bytes: number } | undefined;
      if (!limits.ring) {
        const m = meta.get() as { count: number; bytes: number };
        const done = (moved.get(journal.owner) as { events: number; bytes: number } | undefined) ?? { events: 0, bytes: 0 };
        used = { count: m.count + written.events - done.events, bytes: m.bytes + written.bytes - done.bytes };
      }
      const now = Date.now();
      let bytes = 0;
      for (const p of batch) {
        for (const e of p.events) {
          const value = e.value;
          const size = Buffer.byteLength(e.key) + (typeof value === "string" ? Buffer.byteLength(value) : value.byteLength);
          if (used && (used.count + 1 > limits.maxCount || used.bytes + size > limits.maxBytes)) {
            stored.push(false);
            continue;
          }
          if (used) {
            used.count += 1;
            used.bytes += size;
          }
          const sp = e.spend;
          rows.push([e.id, e.key, value, sp ? sp.authId : null, sp ? sp.orchestrator : null, sp ? sp.feeWei.toString() : null, now]);
          bytes += size;
          stored.push(true);
        }
      }
      journal.write(rows);
      written.events += rows.length;
      written.bytes += bytes;
    } catch (err) {
      out.fail(batch, `outbox write failed: ${(err as Error).message}`);
      return;
    }
    if (!durable) return out.settle(batch, stored);
    syncing += 1;
    journal.sync((err) => {
      syncing -= 1;
      if (err) out.fail(batch, `outbox fsync failed: ${err.message}`);
      else out.settle(batch, stored);
      run();
    });
  };
  return {
    submit(batch) {
      waiting.push(...batch);
      run();
    },
    close() {
      closed = true;
      out.fail(waiting, "outbox closed");
      waiting = [];
      journal.close();
    },
  };
}


export function openOutbox(opts: OutboxOptions): Outbox {
  fs.mkdirSync(dirname(opts.path), { recursive: true });
  // This thread's connection: the schema, then reads and deliveryWrites (outboxOn), and a worker's commits.
  const db = openDb(opts.path, opts.readOnly === true);
  if (opts.readOnly) {
    return outboxOn(db, opts, { append: () => Promise.reject(new OutboxUnavailableError("outbox opened read-only")), close: () => {} });
  }
  db.pragma("wal_autocheckpoint = 0");
  db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
  // Nothing on this thread waits inside SQLite for the write lock: it writes only at start and at a
  // primary's close (the journals left over); the threads make every other write.
  db.pragma("busy_timeout = 0");

  const role = opts.role ?? "only";
  const limits: Limits = { maxBytes: opts.maxBytes, maxCount: opts.maxCount, ring: opts.retentionMs !== undefined, rowFields: ROW_FIELDS, recentIds: opts.recentIds ?? RECENT_IDS };
  // The workers' journals move in with quotas that never refuse (their events were acknowledged),
  // unless the oldest retained events make room.
  const ingestLimits: Limits = limits.ring ? limits : { ...limits, maxBytes: Infinity, maxCount: Infinity };
  const journals = { dir: journalDir(opts.path), walPath: `${opts.path}-wal` };
  let ingestHere: ((everything: boolean) => number) | undefined;
  if (role !== "worker") {
    // What workers of an earlier run left (every writer is gone): in, before any new worker writes,
    // and also when the signer now runs as a single process (nothing else would move them in).
    // The commit (which loads the window of recent ids) is made only if there is something to move.
    let commitHere: ((rows: unknown[]) => boolean[]) | undefined;
    const commit = (rows: unknown[]) => (commitHere ??= fromSource<MakeCommit>(MAKE_COMMIT)(db, ingestLimits))(rows);
    const ingest = fromSource<MakeIngest>(MAKE_INGEST)(db, commit, journals, fs, zlib);
    ingest(true);
    if (role === "primary") ingestHere = ingest;
  }
  const checkpointer =
    role === "worker"
      ? undefined
      : startThread(CHECKPOINTER, {
          path: opts.path,
          everyMs: CHECKPOINT_EVERY_MS,
          restartFrames: role === "primary" ? RESTART_FRAMES : 0,
          // The primary's thread is the one that inserts (the journals).
          cacheKiB: role === "primary" ? LONE_WRITER_CACHE_KIB : PAGE_CACHE_KIB,
          ingest: role === "primary" ? { ...journals, limits: ingestLimits } : undefined,
        });
  // Should the checkpointer die, appends go on and the WAL grows: /readyz says so past
  // WAL_ALARM_BYTES (runtime.ts). A primary's workers' journals would pile up instead: that, and
  // an ingestion that keeps failing, /readyz reports from stats().journalProblem.
  let journalProblem: string | undefined;
  checkpointer?.on("error", () => {});
  // A primary's thread is the one connection that writes the file: it makes the delivery's writes too.
  let primaryDeliveryWrites: DeliveryWrites | undefined;
  if (role === "primary") {
    const deliveryWrites = (primaryDeliveryWrites = deliveryWritesTo(checkpointer!, () => false));
    checkpointer!.on("message", (m: { ingestError: string | null } | RemovalAnswer) => {
      if ("removed" in m) return deliveryWrites.answered(m);
      journalProblem = m.ingestError === null ? undefined : `moving the workers' journals in fails: ${m.ingestError}`;
    });
    checkpointer!.on("exit", () => {
      journalProblem ??= "the thread that moves the workers' journals in has stopped";
      deliveryWrites.lost("the outbox's thread has stopped");
    });
  }

  // The events of every call in one event-loop turn are committed together.
  let queued: Pending[] = [];
  let scheduled = false;
  // Set once appends can no longer be taken (closed, or the writer thread gone).
  let gone: string | undefined;
  const outcomes: Outcomes = {
    settle(batch, stored) {
      let i = 0;
      for (const p of batch) {
        let all = true;
        for (const end = i + p.events.length; i < end; i++) all &&= stored[i]!;
        if (all) p.resolve();
        else p.reject(new OutboxUnavailableError("outbox full"));
      }
    },
    fail(batch, reason) {
      for (const p of batch) p.reject(new OutboxUnavailableError(reason));
    },
    gone(reason) {
      gone ??= reason;
      outcomes.fail(queued, reason);
      queued = [];
    },
  };
  const committer = role === "worker" ? onJournal(db, opts, limits, outcomes) : writerThread(opts, limits, role === "only" ? FINISH_EVERY_COMMITS : 0, role === "primary", outcomes);

  const flush = () => {
    scheduled = false;
    const batch = queued;
    queued = [];
    if (batch.length === 0 || gone !== undefined) return;
    committer.submit(batch);
  };

  // The thread that writes the file removes, prunes and counts failures: a lone writer's, a -workers
  // primary's checkpointer (a worker has none).
  const fileWriter = role === "only" ? committer : primaryDeliveryWrites;
  return outboxOn(db, opts, {
    journalProblem: () => journalProblem,
    remove: fileWriter?.remove,
    prune: fileWriter?.prune,
    countFailed: fileWriter?.countFailed,
    append(events) {
      if (gone !== undefined) return Promise.reject(new OutboxUnavailableError(gone));
      if (events.length === 0) return Promise.resolve();
      const done = new Promise<void>((resolve, reject) => queued.push({ events, resolve, reject }));
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
      return done;
    },
    close() {
      outcomes.gone("outbox closed");
      committer.close();
      void checkpointer?.terminate();
      // The primary, last: what its stopped workers journaled, so the file holds every event.
      if (ingestHere) {
        try {
          db.pragma(`busy_timeout = ${CLOSE_BUSY_MS}`);
          ingestHere(false);
        } catch {
          // left for the next start
        }
      }
    },
  });
}

/**
 * The reads on this thread's connection (the spend query's on a thread of its own), around the
 * writer's append, removals, pruning and close.
 */
function outboxOn(db: BetterSqlite3.Database, opts: OutboxOptions, writer: Pick<Outbox, "append" | "close"> & Pick<Committer, "remove" | "prune" | "countFailed"> & { journalProblem?: () => string | undefined }): Outbox {
  let closed = false;
  const selOldest = db.prepare("SELECT seq, id, key, value, created_at_ms FROM events ORDER BY seq LIMIT ?");
  const selMeta = db.prepare("SELECT count, bytes, delivered, failed FROM meta WHERE one = 1");
  const selFirst = db.prepare("SELECT created_at_ms FROM events ORDER BY seq LIMIT 1");
  const selSince = db.prepare("SELECT seq, id, key, value, created_at_ms FROM events WHERE seq > ? AND created_at_ms >= ? ORDER BY seq LIMIT ?");
  const spendReader = spendReaderOf(opts.path);
  return {
    append: (events) => writer.append(events),
    oldest(limit) {
      return (selOldest.all(limit) as { seq: number; id: string; key: string; value: Buffer; created_at_ms: number }[]).map(toRow);
    },
    delivered(seqs) {
      if (seqs.length === 0) return Promise.resolve();
      if (writer.remove) return writer.remove(seqs);
      return Promise.reject(notOwner("removes delivered rows"));
    },
    failed(count) {
      if (count <= 0) return;
      if (!writer.countFailed) throw notOwner("counts failed deliveries");
      writer.countFailed(count);
    },
    stats() {
      const m = selMeta.get() as { count: number; bytes: number; delivered: number; failed: number };
      const first = selFirst.get() as { created_at_ms: number } | undefined;
      const walBytes = fs.statSync(`${opts.path}-wal`, { throwIfNoEntry: false })?.size ?? 0;
      const journalProblem = writer.journalProblem?.();
      return { depth: m.count, bytes: m.bytes, delivered: m.delivered, failed: m.failed, oldestAgeMs: first ? Math.max(0, Date.now() - first.created_at_ms) : 0, walBytes, ...(journalProblem !== undefined && { journalProblem }) };
    },
    since(sinceMs, afterSeq, limit) {
      return (selSince.all(afterSeq, sinceMs, limit) as { seq: number; id: string; key: string; value: Buffer; created_at_ms: number }[]).map(toRow);
    },
    spend(sinceMs) {
      return spendReader.query(sinceMs);
    },
    prune(signal) {
      if (opts.retentionMs === undefined) return Promise.resolve(0);
      if (writer.prune) return writer.prune(Date.now() - opts.retentionMs, signal);
      return Promise.reject(notOwner("prunes it"));
    },
    close() {
      if (closed) return;
      closed = true;
      writer.close();
      spendReader.close();
      db.close();
    },
  };
}

/**
 * The spend reader thread (SPEND_READER), started at the first query; queries are answered in
 * order, at most SPEND_QUERIES_WAITING at a time (more are refused: each reads a whole window). A
 * thread that fails is started again by the next query.
 */
function spendReaderOf(path: string): { query(sinceMs: number): Promise<SpendSummary>; close(): void } {
  let thread: Worker | undefined;
  let closed = false;
  const waiting: { resolve: (s: SpendSummary) => void; reject: (err: Error) => void }[] = [];
  const start = () => {
    const t = startThread(SPEND_READER, { path, cacheKiB: PAGE_CACHE_KIB, listMax: SPEND_LIST_MAX });
    t.on("message", (m: { summary?: SpendSummary; error?: string }) => {
      const w = waiting.shift();
      if (waiting.length === 0) t.unref();
      if (m.error !== undefined) w?.reject(new OutboxUnavailableError(`outbox spend query failed: ${m.error}`));
      else w?.resolve(m.summary!);
    });
    const gone = (reason: string) => {
      if (thread === t) thread = undefined;
      for (const w of waiting.splice(0)) w.reject(new OutboxUnavailableError(reason));
    };
    t.on("error", (err) => gone(`outbox spend reader failed: ${err.message}`));
    t.on("exit", () => gone("outbox spend reader stopped"));
    return t;
  };
  return {
    query(sinceMs) {
      if (closed) return Promise.reject(new OutboxUnavailableError("outbox closed"));
      if (waiting.length >= SPEND_QUERIES_WAITING) return Promise.reject(new OutboxUnavailableError("too many spend queries under way"));
      thread ??= start();
      if (waiting.length === 0) thread.ref();
      const answer = new Promise<SpendSummary>((resolve, reject) => waiting.push({ resolve, reject }));
      thread.postMessage({ sinceMs });
      return answer;
    },
    close() {
      closed = true;
      void thread?.terminate();
    },
  };
}

/** A write only the owning process's thread makes, asked of another process's outbox. */
const notOwner = (what: string) => new Error(`only the process that owns the outbox (the single process or the -workers primary) ${what}`);

function toRow(r: { seq: number; id: string; key: string; value: Buffer; created_at_ms: number }): OutboxRow {
  return { seq: r.seq, id: r.id, key: r.key, value: new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength), createdAtMs: r.created_at_ms };
}
