/**
 * The event outbox: an SQLite file (WAL) that the signer appends to before it replies, and that
 * delivery (Kafka) or `lpsigner events` reads from.
 *
 * Durability: an append resolves once its commit is on disk: the transaction is written to the WAL
 * on the event loop (synchronous=NORMAL, a few write calls), and the WAL file is then fsynced on
 * libuv's pool, the same sync synchronous=FULL would make inside the commit, without holding the
 * event loop for it. An event whose reply was sent survives a process kill and a power loss.
 * Appends are group-committed: the events of one event-loop turn go in one transaction, and while
 * its fsync runs the next calls' events gather for the following one.
 *
 * Checkpoints (copying the WAL into the database file, with fsyncs of their own) run on a thread of
 * their own; the writer never checkpoints inside a commit.
 *
 * One process writes (the signer, or the -workers primary for all its workers); others open the
 * file to read. The quota counters live in the file (the meta row, written in the same transaction
 * as the rows it counts: once per commit, not per row). Deletes (delivered, retention) are not
 * fsynced: a power loss may undo one, which only means an event is delivered again (at least once).
 */
import type BetterSqlite3 from "better-sqlite3";
import { createRequire } from "node:module";
import { closeSync, fdatasync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { Worker } from "node:worker_threads";

export interface OutboxRow { seq: number; id: string; key: string; value: Uint8Array; createdAtMs: number }

export interface OutboxStats { depth: number; oldestAgeMs: number; bytes: number; delivered: number; failed: number }

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
  byAuthId: { key: string; events: number; feeWei: string }[];
  byOrchestrator: { key: string; events: number; feeWei: string }[];
}

export interface Outbox {
  /** Durable before it resolves (group commit allowed); rejects OutboxUnavailableError (full, disk error). */
  append(events: OutboxEvent[]): Promise<void>;
  /** The oldest undelivered rows, at most `limit`, in seq order. */
  oldest(limit: number): OutboxRow[];
  /** Delivered: removed. */
  delivered(seqs: number[]): void;
  /** Failed delivery attempt (counted). */
  failed(count: number): void;
  stats(): OutboxStats;
  /** With retentionMs: remove rows older than it; returns how many. */
  prune(): number;
  /** Rows after `afterSeq` written at or after `sinceMs`, at most `limit`, in seq order (what `lpsigner events` prints). */
  since(sinceMs: number, afterSeq: number, limit: number): OutboxRow[];
  /** Spend of the events in the outbox written at or after `sinceMs`. */
  spend(sinceMs: number): SpendSummary;
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
}

/** The outbox cannot take the event (quota reached, disk error): the call must be answered unavailable. */
export class OutboxUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutboxUnavailableError";
  }
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  key TEXT NOT NULL,
  value BLOB NOT NULL,
  created_at_ms INTEGER NOT NULL,
  auth_id TEXT,
  orchestrator TEXT,
  -- decimal text: fees are exact integers that may pass 2^63
  fee_wei TEXT
);
CREATE INDEX IF NOT EXISTS events_created ON events (created_at_ms);
CREATE TABLE IF NOT EXISTS meta (
  one INTEGER PRIMARY KEY CHECK (one = 1),
  count INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  delivered INTEGER NOT NULL,
  failed INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta VALUES (1, 0, 0, 0, 0);
`;

/** Open (creating) the file with the schema; shared by the writer thread and the caller's thread. */
// The addon is loaded by the first open: a signer with events off never loads it.
let Database: typeof BetterSqlite3 | undefined;

function openDb(path: string): BetterSqlite3.Database {
  Database ??= createRequire(import.meta.url)("better-sqlite3") as typeof BetterSqlite3;
  const db = new Database(path, { timeout: 10_000 });
  // Writes only when the file is new: opening an existing outbox takes no write lock.
  if (db.pragma("journal_mode", { simple: true }) !== "wal") db.pragma("journal_mode = WAL");
  // Commits are made durable by an fsync of the WAL (openOutbox), not inside SQLite.
  db.pragma("synchronous = NORMAL");
  const ready = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
  if (!ready) db.transaction(() => db.exec(SCHEMA)).immediate();
  // A file from the first version of the schema (before the spend columns) gets them.
  const hasSpend = () => (db.pragma("table_info(events)") as { name: string }[]).some((c) => c.name === "auth_id");
  if (!hasSpend()) {
    db.transaction(() => {
      if (hasSpend()) return; // another process did it meanwhile
      for (const c of ["auth_id", "orchestrator", "fee_wei"]) db.exec(`ALTER TABLE events ADD COLUMN ${c} TEXT`);
      db.exec("CREATE INDEX IF NOT EXISTS events_created ON events (created_at_ms)");
    }).immediate();
  }
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

// The checkpointer thread: plain CommonJS so it runs the same under node, tsx and vitest. It
// copies the WAL into the database file and fsyncs it, so no commit carries a checkpoint (PASSIVE:
// it never waits for or blocks a writer). Only after a complete checkpoint can the next writer
// restart the WAL from its beginning, and under steady commits a checkpoint from another thread
// is rarely complete (a commit lands during it). One writer finishes the checkpoint itself, between
// its commits (FINISH_EVERY_COMMITS), when little is left to copy. With several (-workers), once
// the WAL is long this thread runs a RESTART checkpoint: it holds new commits off for a few
// milliseconds (they retry on the next turn: BUSY_GIVE_UP_MS) and waits here, not on an event loop.
const CHECKPOINTER = `
const { workerData } = require("node:worker_threads");
const Database = require(workerData.sqlitePath);
const db = new Database(workerData.path, { timeout: 1000 });
db.pragma("synchronous = NORMAL");
db.pragma("wal_autocheckpoint = 0");
setInterval(() => {
  try {
    const r = db.pragma("wal_checkpoint(PASSIVE)")[0];
    if (workerData.restartFrames > 0 && r.log > workerData.restartFrames) db.pragma("wal_checkpoint(RESTART)");
  } catch {}
}, workerData.everyMs);
`;
const CHECKPOINT_EVERY_MS = 20;
// Another process's commit holds the write lock for a few write calls; SQLite's own busy wait
// would sleep the event loop in steps of milliseconds, so a busy commit is retried on the next
// turn instead, for at most this long.
const BUSY_GIVE_UP_MS = 2000;
// fsyncs in flight at once, on libuv's pool (4 threads unless UV_THREADPOOL_SIZE says otherwise).
const MAX_SYNCS = 2;
// How long a removal (delivery, retention) waits for another process's commit.
const REMOVAL_BUSY_MS = 50;
// One writer: about 1.5 MB of WAL at the usual six pages per commit.
const FINISH_EVERY_COMMITS = 64;
// Several writers: about 16 MB of WAL, so the RESTART's pause comes every few seconds at most.
const RESTART_FRAMES = 4000;
// After a restart the writer truncates a WAL that grew past this.
const WAL_SIZE_LIMIT = 16 * 1024 * 1024;

/**
 * Commits a batch of events in one transaction; per event: true (stored, or already there) or
 * false (no room). The quota counters are read and written once, in the same transaction.
 */
function committer(db: BetterSqlite3.Database, opts: OutboxOptions): (batch: Pending[]) => boolean[] {
  const { maxBytes, maxCount } = opts;
  const ring = opts.retentionMs !== undefined;
  const meta = db.prepare("SELECT count, bytes FROM meta WHERE one = 1");
  const setMeta = db.prepare("UPDATE meta SET count = ?, bytes = ? WHERE one = 1");
  const insert = db.prepare("INSERT OR IGNORE INTO events (id, key, value, created_at_ms, auth_id, orchestrator, fee_wei) VALUES (?, ?, ?, ?, ?, ?, ?)");
  const oldest = db.prepare("SELECT seq, length(key) + length(value) AS n FROM events ORDER BY seq LIMIT 256");
  const del = db.prepare("DELETE FROM events WHERE seq = ?");
  const commit = db.transaction((batch: Pending[]) => {
    const m = meta.get() as { count: number; bytes: number };
    let count = m.count;
    let bytes = m.bytes;
    const now = Date.now();
    const out: boolean[] = [];
    for (const p of batch) {
      for (const e of p.events) {
        const value = typeof e.value === "string" ? Buffer.from(e.value) : e.value;
        const size = Buffer.byteLength(e.key) + value.byteLength;
        const full = () => count + 1 > maxCount || bytes + size > maxBytes;
        // Embedded default: the oldest retained events make room.
        while (ring && count > 0 && full()) {
          for (const r of oldest.all() as { seq: number; n: number }[]) {
            if (!full()) break;
            del.run(r.seq);
            count -= 1;
            bytes -= r.n;
          }
        }
        if (full()) {
          out.push(false);
          continue;
        }
        const sp = e.spend;
        if (insert.run(e.id, e.key, value, now, sp ? sp.authId : null, sp ? sp.orchestrator : null, sp ? sp.feeWei.toString() : null).changes === 1) {
          count += 1;
          bytes += size;
        }
        out.push(true);
      }
    }
    if (count !== m.count || bytes !== m.bytes) setMeta.run(count, bytes);
    return out;
  });
  return (batch) => commit.immediate(batch);
}

// One append() call waiting for its events.
interface Pending { events: OutboxEvent[]; resolve: () => void; reject: (err: Error) => void }

function startCheckpointer(path: string, restartFrames: number): Worker {
  const sqlitePath = createRequire(import.meta.url).resolve("better-sqlite3");
  const checkpointer = new Worker(CHECKPOINTER, { eval: true, workerData: { sqlitePath, path, everyMs: CHECKPOINT_EVERY_MS, restartFrames } });
  checkpointer.unref();
  // Should the thread die, appends go on and the WAL grows until the signer restarts.
  checkpointer.on("error", () => {});
  return checkpointer;
}

const isBusy = (err: unknown) => err instanceof Error && typeof (err as { code?: unknown }).code === "string" && (err as Error & { code: string }).code.startsWith("SQLITE_BUSY");

export function openOutbox(opts: OutboxOptions): Outbox {
  mkdirSync(dirname(opts.path), { recursive: true });
  if (opts.readOnly) {
    const db = openDb(opts.path);
    return outboxOn(db, opts, { append: () => Promise.reject(new OutboxUnavailableError("outbox opened read-only")), close: () => {} });
  }
  // This thread's connection commits (NORMAL: the WAL is written, not fsynced), and with "full"
  // the WAL file is then fsynced on libuv's pool before the appends resolve: the same commit on
  // disk that synchronous=FULL makes, without holding the event loop for the fsync.
  const durable = opts.synchronous !== "normal";
  const db = openDb(opts.path);
  db.pragma("wal_autocheckpoint = 0");
  db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
  // A commit never waits inside SQLite for the write lock (see BUSY_GIVE_UP_MS); removals, rare
  // and off the payment path, wait up to 50 ms.
  db.pragma("busy_timeout = 0");
  const commit = committer(db, opts);
  // SQLite keeps the WAL file (same inode) while this connection is open; the first commit made it.
  let walFd: number | undefined;

  const role = opts.role ?? "only";
  const checkpointer = role === "worker" ? undefined : startCheckpointer(opts.path, role === "primary" ? RESTART_FRAMES : 0);

  // Group commit: the events of every call in one event-loop turn go in one transaction, fsynced
  // at once; up to MAX_SYNCS fsyncs run at a time (a commit made while one runs waits for its
  // own, not for that one too), and past that the next calls' events gather for a later commit.
  let queued: Pending[] = [];
  let scheduled = false;
  let syncing = 0;
  let closed = false;
  const settle = (batch: Pending[], stored: boolean[]) => {
    let i = 0;
    for (const p of batch) {
      let all = true;
      for (const end = i + p.events.length; i < end; i++) all &&= stored[i]!;
      if (all) p.resolve();
      else p.reject(new OutboxUnavailableError("outbox full"));
    }
  };
  const failBatch = (batch: Pending[], err: unknown) => {
    for (const p of batch) p.reject(new OutboxUnavailableError(`outbox write failed: ${(err as Error).message}`));
  };
  let commitsSinceFinish = 0;
  const finishCheckpoint = () => {
    try {
      if (!closed) db.pragma("wal_checkpoint(PASSIVE)");
    } catch {
      // Busy (the thread is at it) or failing: the next round tries again.
    }
  };
  // Since when the first batch waiting has found the write lock taken.
  let busySince: number | undefined;
  const flushSoon = () => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  const flush = () => {
    scheduled = false;
    if (syncing >= MAX_SYNCS || closed) return; // an fsync's end flushes again
    const batch = queued;
    queued = [];
    if (batch.length === 0) return;
    let stored: boolean[];
    try {
      stored = commit(batch);
      if (durable) walFd ??= openSync(`${opts.path}-wal`, "r");
    } catch (err) {
      const now = Date.now();
      if (isBusy(err) && now - (busySince ??= now) < BUSY_GIVE_UP_MS) {
        queued = batch.concat(queued);
        flushSoon();
        return;
      }
      busySince = undefined;
      failBatch(batch, err);
      return;
    }
    busySince = undefined;
    // After this turn's replies (their promise reactions run before the next immediate).
    if (role === "only" && ++commitsSinceFinish >= FINISH_EVERY_COMMITS) {
      commitsSinceFinish = 0;
      setImmediate(finishCheckpoint);
    }
    if (!durable) return settle(batch, stored);
    syncing += 1;
    fdatasync(walFd!, (err) => {
      syncing -= 1;
      if (closed && syncing === 0) closeSync(walFd!);
      if (err) failBatch(batch, err);
      else settle(batch, stored);
      flush();
    });
  };

  return outboxOn(db, opts, {
    append(events) {
      if (closed) return Promise.reject(new OutboxUnavailableError("outbox closed"));
      if (events.length === 0) return Promise.resolve();
      const done = new Promise<void>((resolve, reject) => queued.push({ events, resolve, reject }));
      flushSoon();
      return done;
    },
    close() {
      closed = true;
      for (const p of queued) p.reject(new OutboxUnavailableError("outbox: closed"));
      queued = [];
      // An fsync in flight still holds the descriptor: its end closes it.
      if (walFd !== undefined && syncing === 0) closeSync(walFd);
      void checkpointer?.terminate();
    },
  });
}

/** The reads and deletes, on this thread's connection, around the writer's append and close. */
function outboxOn(db: BetterSqlite3.Database, opts: OutboxOptions, writer: Pick<Outbox, "append" | "close">): Outbox {
  let closed = false;
  const selOldest = db.prepare("SELECT seq, id, key, value, created_at_ms FROM events ORDER BY seq LIMIT ?");
  // Deletes return each row's size: meta's count and bytes go down in the same transaction.
  const delSeq = db.prepare("DELETE FROM events WHERE seq = ? RETURNING length(key) + length(value) AS n");
  const selMeta = db.prepare("SELECT count, bytes, delivered, failed FROM meta WHERE one = 1");
  const selFirst = db.prepare("SELECT created_at_ms FROM events ORDER BY seq LIMIT 1");
  const addDelivered = db.prepare("UPDATE meta SET count = count - ?, bytes = bytes - ?, delivered = delivered + ? WHERE one = 1");
  const subtract = db.prepare("UPDATE meta SET count = count - ?, bytes = bytes - ? WHERE one = 1");
  const addFailed = db.prepare("UPDATE meta SET failed = failed + ? WHERE one = 1");
  const delOld = db.prepare("DELETE FROM events WHERE created_at_ms < ? RETURNING length(key) + length(value) AS n");
  const selSince = db.prepare("SELECT seq, id, key, value, created_at_ms FROM events WHERE seq > ? AND created_at_ms >= ? ORDER BY seq LIMIT ?");
  // Sums as text of exact integers: SQLite's SUM would overflow past 2^63 wei.
  const spendBy = (column: string) =>
    db.prepare(`SELECT ${column} AS key, count(*) AS events, group_concat(fee_wei) AS fees FROM events WHERE created_at_ms >= ? AND fee_wei IS NOT NULL GROUP BY ${column} ORDER BY ${column}`);
  const spendByAuth = spendBy("auth_id");
  const spendByOrch = spendBy("orchestrator");
  const summed = (rows: unknown[]) =>
    (rows as { key: string; events: number; fees: string }[])
      .map((r) => ({ key: r.key, events: r.events, feeWei: r.fees.split(",").reduce((a, f) => a + BigInt(f), 0n).toString() }))
      .sort((a, b) => (BigInt(b.feeWei) > BigInt(a.feeWei) ? 1 : BigInt(b.feeWei) < BigInt(a.feeWei) ? -1 : a.key.localeCompare(b.key)));
  const delivered = db.transaction((seqs: number[]) => {
    let n = 0;
    let bytes = 0;
    for (const s of seqs) {
      const r = delSeq.get(s) as { n: number } | undefined;
      if (r) {
        n += 1;
        bytes += r.n;
      }
    }
    addDelivered.run(n, bytes, n);
  });
  const pruned = db.transaction((before: number) => {
    const rows = delOld.all(before) as { n: number }[];
    if (rows.length > 0) subtract.run(rows.length, rows.reduce((a, r) => a + r.n, 0));
    return rows.length;
  });

  // Removals (delivery, retention: rare, off the payment path) wait a little for another process's
  // commit; the writing connection's commits never wait inside SQLite.
  const patiently = <T>(write: () => T): T => {
    const before = db.pragma("busy_timeout", { simple: true }) as number;
    if (before >= REMOVAL_BUSY_MS) return write();
    db.pragma(`busy_timeout = ${REMOVAL_BUSY_MS}`);
    try {
      return write();
    } finally {
      db.pragma(`busy_timeout = ${before}`);
    }
  };

  return {
    append: (events) => writer.append(events),
    oldest(limit) {
      return (selOldest.all(limit) as { seq: number; id: string; key: string; value: Buffer; created_at_ms: number }[]).map(toRow);
    },
    delivered(seqs) {
      if (seqs.length > 0) patiently(() => delivered.immediate(seqs));
    },
    failed(count) {
      if (count > 0) patiently(() => addFailed.run(count));
    },
    stats() {
      const m = selMeta.get() as { count: number; bytes: number; delivered: number; failed: number };
      const first = selFirst.get() as { created_at_ms: number } | undefined;
      return { depth: m.count, bytes: m.bytes, delivered: m.delivered, failed: m.failed, oldestAgeMs: first ? Math.max(0, Date.now() - first.created_at_ms) : 0 };
    },
    since(sinceMs, afterSeq, limit) {
      return (selSince.all(afterSeq, sinceMs, limit) as { seq: number; id: string; key: string; value: Buffer; created_at_ms: number }[]).map(toRow);
    },
    spend(sinceMs) {
      return { byAuthId: summed(spendByAuth.all(sinceMs)), byOrchestrator: summed(spendByOrch.all(sinceMs)) };
    },
    prune() {
      return opts.retentionMs === undefined ? 0 : patiently(() => pruned.immediate(Date.now() - opts.retentionMs!));
    },
    close() {
      if (closed) return;
      closed = true;
      writer.close();
      db.close();
    },
  };
}

function toRow(r: { seq: number; id: string; key: string; value: Buffer; created_at_ms: number }): OutboxRow {
  return { seq: r.seq, id: r.id, key: r.key, value: new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength), createdAtMs: r.created_at_ms };
}
