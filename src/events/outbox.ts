/**
 * The event outbox: an SQLite file (WAL) that every signer process appends to before it replies,
 * and that delivery (Kafka) or `lpsigner events` reads from.
 *
 * Durability: appends are committed with synchronous=FULL, so a commit has reached the disk (the WAL
 * is fsynced) before append() resolves, and an event whose reply was sent survives a process kill
 * and a power loss. The fsync costs about 2 ms here, so appends are group-committed: while one
 * transaction is being written, the next calls' events gather and go in the following one. The
 * writes run on a thread of their own so the fsync never stalls the event loop.
 *
 * Several processes (-workers N) open the same file: SQLite's WAL lets them take turns writing
 * (busy timeout), and the quota counters live in the file (the meta row, written in the same
 * transaction as the rows it counts: once per commit, not per row), so the bound is one for all of
 * them. Deletes (delivered, retention) run on the caller's thread with synchronous=NORMAL: a power
 * loss may undo a delete, which only means an event is delivered again (at least once).
 */
import Database from "better-sqlite3";
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { Worker } from "node:worker_threads";

export interface OutboxRow { seq: number; id: string; key: string; value: Uint8Array; createdAtMs: number }

export interface OutboxStats { depth: number; oldestAgeMs: number; bytes: number; delivered: number; failed: number }

/**
 * An event to append; `spend` (a payment's auth id, orchestrator and fee) feeds spend(). A string
 * value is stored as its UTF-8 bytes (encoded on the writer thread).
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
  /** Reading only (`lpsigner events`): no writer thread; append() rejects. */
  readOnly?: boolean;
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
function openDb(path: string, synchronous: string): Database.Database {
  const db = new Database(path, { timeout: 10_000 });
  // Writes only when the file is new: opening an existing outbox takes no write lock.
  if (db.pragma("journal_mode", { simple: true }) !== "wal") db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${synchronous}`);
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

// The writer thread: plain CommonJS so it runs the same under node, tsx and vitest.
const WRITER = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.sqlitePath);
const { path, synchronous, maxBytes, maxCount, ring } = workerData;
const db = new Database(path, { timeout: 10000 });
db.pragma("journal_mode = WAL");
db.pragma("synchronous = " + synchronous);
const meta = db.prepare("SELECT count, bytes FROM meta WHERE one = 1");
const setMeta = db.prepare("UPDATE meta SET count = ?, bytes = ? WHERE one = 1");
const insert = db.prepare("INSERT OR IGNORE INTO events (id, key, value, created_at_ms, auth_id, orchestrator, fee_wei) VALUES (?, ?, ?, ?, ?, ?, ?)");
const oldest = db.prepare("SELECT seq, length(key) + length(value) AS n FROM events ORDER BY seq LIMIT 256");
const del = db.prepare("DELETE FROM events WHERE seq = ?");
// rows: FIELDS strings per event (id, key, value, auth id, orchestrator, fee), flat: one array
// crosses from the event loop cheaper than an object per event. Returns, per event, true (stored,
// or already there) or false (no room). The quota counters are read and written once, in the
// same transaction as the rows.
const FIELDS = 6;
const commit = db.transaction((rows) => {
  const m = meta.get();
  let count = m.count, bytes = m.bytes;
  const now = Date.now();
  const out = [];
  for (let i = 0; i < rows.length; i += FIELDS) {
    const key = rows[i + 1];
    const value = typeof rows[i + 2] === "string" ? Buffer.from(rows[i + 2]) : rows[i + 2];
    const size = Buffer.byteLength(key) + value.byteLength;
    if (ring) {
      // Embedded default: the oldest retained events make room.
      while (count > 0 && (count + 1 > maxCount || bytes + size > maxBytes)) {
        const rows = oldest.all();
        for (const r of rows) {
          if (!(count + 1 > maxCount || bytes + size > maxBytes)) break;
          del.run(r.seq); count -= 1; bytes -= r.n;
        }
      }
    }
    if (count + 1 > maxCount || bytes + size > maxBytes) { out.push(false); continue; }
    if (insert.run(rows[i], key, value, now, rows[i + 3], rows[i + 4], rows[i + 5]).changes === 1) { count += 1; bytes += size; }
    out.push(true);
  }
  if (count !== m.count || bytes !== m.bytes) setMeta.run(count, bytes);
  return out;
});
parentPort.on("message", (msg) => {
  try {
    parentPort.postMessage({ n: msg.n, stored: commit.immediate(msg.rows) });
  } catch (err) {
    parentPort.postMessage({ n: msg.n, error: String(err && err.message || err) });
  }
});
`;

// One append() call waiting for its events (`count` of them, in order in the batch).
interface Pending { count: number; resolve: () => void; reject: (err: Error) => void }

// An idle writer is unreferenced after this long, so it does not keep the process alive (ref and
// unref on every commit cost tens of µs each on the event loop).
const UNREF_AFTER_MS = 1000;

export function openOutbox(opts: OutboxOptions): Outbox {
  mkdirSync(dirname(opts.path), { recursive: true });
  const synchronous = opts.synchronous === "normal" ? "NORMAL" : "FULL";
  // This thread's connection: reads, and deletes (NORMAL: an undone delete only redelivers).
  const db = openDb(opts.path, "NORMAL");
  if (opts.readOnly) {
    return outboxOn(db, opts, { append: () => Promise.reject(new OutboxUnavailableError("outbox opened read-only")), close: () => {} });
  }
  const sqlitePath = createRequire(import.meta.url).resolve("better-sqlite3");
  const writer = new Worker(WRITER, {
    eval: true,
    workerData: { sqlitePath, path: opts.path, synchronous, maxBytes: opts.maxBytes, maxCount: opts.maxCount, ring: opts.retentionMs !== undefined },
  });
  // Without appends in flight the writer must not keep the process alive.
  writer.unref();
  let referenced = false;
  let idleSince = 0;
  const idleCheck = setInterval(() => {
    if (referenced && !inFlight && queued.length === 0 && Date.now() - idleSince >= UNREF_AFTER_MS) {
      referenced = false;
      writer.unref();
    }
  }, UNREF_AFTER_MS);
  idleCheck.unref();
  let writerDead: Error | undefined;
  writer.on("error", (err) => { writerDead = err; failAll(err); });
  writer.on("exit", (code) => { if (!closed) { writerDead = new Error(`outbox writer exited (${code})`); failAll(writerDead); } });

  // The events waiting for the next commit, as the writer takes them (FIELDS strings each).
  let queued: Pending[] = [];
  let rows: (string | Uint8Array | null)[] = [];
  let inFlight: { n: number; batch: Pending[] } | undefined;
  let nextN = 1;
  let closed = false;

  // Group commit: one transaction in flight; everything appended meanwhile goes in the next.
  function flush(): void {
    if (inFlight || queued.length === 0) return;
    const batch = queued;
    const batchRows = rows;
    queued = [];
    rows = [];
    inFlight = { n: nextN++, batch };
    if (!referenced) {
      referenced = true;
      writer.ref();
    }
    writer.postMessage({ n: inFlight.n, rows: batchRows });
  }
  function failAll(err: Error): void {
    const all = [...(inFlight?.batch ?? []), ...queued];
    inFlight = undefined;
    queued = [];
    rows = [];
    for (const p of all) p.reject(new OutboxUnavailableError(`outbox: ${err.message}`));
  }
  writer.on("message", (msg: { n: number; stored?: boolean[]; error?: string }) => {
    const batch = inFlight?.batch ?? [];
    inFlight = undefined;
    idleSince = Date.now();
    if (msg.error !== undefined) {
      for (const p of batch) p.reject(new OutboxUnavailableError(`outbox write failed: ${msg.error}`));
    } else {
      let i = 0;
      for (const p of batch) {
        let all = true;
        for (const end = i + p.count; i < end; i++) all &&= msg.stored![i]!;
        if (all) p.resolve();
        else p.reject(new OutboxUnavailableError("outbox full"));
      }
    }
    flush();
  });

  return outboxOn(db, opts, {
    append(events) {
      if (closed) return Promise.reject(new OutboxUnavailableError("outbox closed"));
      if (writerDead) return Promise.reject(new OutboxUnavailableError(`outbox: ${writerDead.message}`));
      if (events.length === 0) return Promise.resolve();
      for (const e of events) {
        const sp = e.spend;
        rows.push(e.id, e.key, e.value, sp ? sp.authId : null, sp ? sp.orchestrator : null, sp ? sp.feeWei.toString() : null);
      }
      const done = new Promise<void>((resolve, reject) => queued.push({ count: events.length, resolve, reject }));
      flush();
      return done;
    },
    close() {
      closed = true;
      clearInterval(idleCheck);
      failAll(new Error("closed"));
      void writer.terminate();
    },
  });
}

/** The reads and deletes, on this thread's connection, around the writer's append and close. */
function outboxOn(db: Database.Database, opts: OutboxOptions, writer: Pick<Outbox, "append" | "close">): Outbox {
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

  return {
    append: (events) => writer.append(events),
    oldest(limit) {
      return (selOldest.all(limit) as { seq: number; id: string; key: string; value: Buffer; created_at_ms: number }[]).map(toRow);
    },
    delivered(seqs) {
      if (seqs.length > 0) delivered.immediate(seqs);
    },
    failed(count) {
      if (count > 0) addFailed.run(count);
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
      return opts.retentionMs === undefined ? 0 : pruned.immediate(Date.now() - opts.retentionMs);
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
