/**
 * A -workers worker's journal: where its events are made durable before its replies, instead of in
 * the shared SQLite file. Each worker appends to segment files of its own (one `write` and one
 * `fdatasync` per group of events), and the primary's outbox thread moves them into the outbox
 * (INGEST) and deletes each segment once it is in. Measured on 2 cores: committing to SQLite on a
 * worker's event loop kept 56-73 % of events-off throughput; the journal's write and sync alone,
 * 81-87 % (docs/operating.md).
 *
 * Segments are written in place over zeros written ahead of time: an fdatasync of a file that does
 * not grow writes no metadata (about 35 % less CPU per sync on this machine's ext4). A record is
 * [u32 length][u32 crc32 of the payload][payload: JSON], little-endian; a zero length, a record that
 * does not fit or a wrong checksum ends a segment's valid part (a write in progress, or one torn by
 * a crash, which was never acknowledged: an acknowledged record's fsync came after every write
 * before it).
 *
 * Order: a session's next call can only be made after its previous reply, so its event is written
 * after the previous one's fsync. Each record carries the monotonic clock (µs, the same in every
 * process of a machine) at its write; the ingester takes the time T before reading, and moves only
 * records older than T, oldest first: any such record's predecessor in its session was written
 * before T, so it is read in the same pass. The outbox's seq order is then each session's order.
 */
import { closeSync, fdatasync, fdatasyncSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { fdatasync as fdatasyncCb, open as openCb, write as writeCb } from "node:fs";
import { promisify } from "node:util";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { randomBytes } from "node:crypto";

const openRaw = promisify(openCb);
const writeRaw = promisify(writeCb);
const fdatasyncRaw = promisify(fdatasyncCb);

/** Segment size: about 25,000 events of 1.3 KB. */
export const SEGMENT_BYTES = 32 * 1024 * 1024;
const HEADER = 8;
const ZEROS = Buffer.alloc(1024 * 1024);

/** The journal directory of an outbox file. */
// (Not "-journal": SQLite takes a file of that name for a rollback journal of the database.)
export const journalDir = (outboxPath: string) => `${outboxPath}.journals`;

/** An event as journaled: what MAKE_COMMIT stores, with the time it was appended. */
export type JournalRow = [id: string, key: string, value: string | Uint8Array, authId: string | null, orchestrator: string | null, feeWei: string | null, createdAtMs: number];

export interface Journal {
  /** This writer's name in the segments' names: `<pid>-<random>`. */
  readonly owner: string;
  /** Writes the rows (not yet durable); throws on a disk error. */
  write(rows: JournalRow[]): void;
  /** Durable: an fdatasync of every segment written so far, on libuv's pool. */
  sync(done: (err: Error | null) => void): void;
  close(): void;
}

/** Zero-filled ahead of use, so appends within it change no metadata. */
function fillZeros(fd: number, bytes: number): void {
  for (let at = 0; at < bytes; at += ZEROS.length) writeSync(fd, ZEROS, 0, Math.min(ZEROS.length, bytes - at), at);
  fdatasyncSync(fd);
}

function syncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function openJournal(dir: string, segmentBytes = SEGMENT_BYTES): Journal {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const owner = `${process.pid}-${randomBytes(4).toString("hex")}`;
  const name = (n: number) => join(dir, `${owner}-${String(n).padStart(6, "0")}.seg`);
  let n = 0;
  // The current segment: descriptor, and where the next record goes.
  let fd = openSync(name(n), "wx", 0o600);
  fillZeros(fd, segmentBytes);
  syncDir(dir);
  let at = 0;
  // fsyncs in flight per descriptor: a segment left behind is closed once its last one ends.
  const syncing = new Map<number, number>();
  // The next segment, zero-filled in the background once the current one is half used.
  let next: { path: string; ready: Promise<number | undefined>; fd?: number } | undefined;
  const prepare = () => {
    const path = `${name(n + 1)}.tmp`;
    const p = { path, ready: Promise.resolve(undefined as number | undefined) } as NonNullable<typeof next>;
    // Raw descriptors (a FileHandle would close its descriptor when collected).
    p.ready = (async () => {
      const f = await openRaw(path, "wx", 0o600);
      for (let off = 0; off < segmentBytes; off += ZEROS.length) await writeRaw(f, ZEROS, 0, Math.min(ZEROS.length, segmentBytes - off), off);
      await fdatasyncRaw(f);
      p.fd = f;
      return f;
    })().catch(() => undefined); // rotation then makes it synchronously
    next = p;
  };
  const leave = (old: number) => {
    if (!syncing.has(old)) closeSync(old);
  };
  // The current segment is full: it is synced (its records were all written) and the next takes
  // over. Should that fail (a disk error), nothing changes and the next write tries again.
  let dirSynced = true;
  const rotate = () => {
    fdatasyncSync(fd);
    const target = name(n + 1);
    const pending = next;
    let fresh: number;
    if (pending?.fd !== undefined) {
      renameSync(pending.path, target);
      fresh = pending.fd;
    } else {
      fresh = openSync(target, "wx", 0o600);
      try {
        fillZeros(fresh, segmentBytes);
      } catch (err) {
        closeSync(fresh);
        rmSync(target, { force: true });
        throw err;
      }
      // One still being zero-filled is not waited for: dropped once done.
      void pending?.ready.then((f) => f !== undefined && (closeSync(f), rmSync(pending.path, { force: true })));
    }
    next = undefined;
    const old = fd;
    fd = fresh;
    n += 1;
    at = 0;
    leave(old);
    // Until the directory is synced the new name might not survive a power loss: no record in the
    // new segment is written before it is.
    dirSynced = false;
  };
  return {
    owner,
    write(rows) {
      const us = Number(process.hrtime.bigint() / 1000n);
      const parts: Buffer[] = [];
      for (const r of rows) {
        const value = typeof r[2] === "string" ? r[2] : { b64: Buffer.from(r[2]).toString("base64") };
        const payload = Buffer.from(JSON.stringify([us, r[6], r[0], r[1], value, r[3], r[4], r[5]]));
        if (payload.length + HEADER > segmentBytes) throw new Error(`an event of ${payload.length} bytes does not fit a journal segment`);
        const header = Buffer.allocUnsafe(HEADER);
        header.writeUInt32LE(payload.length, 0);
        header.writeUInt32LE(crc32(payload), 4);
        parts.push(header, payload);
      }
      // One write per segment: records that do not fit go to the next.
      let first = 0;
      while (first < parts.length) {
        let bytes = 0;
        let end = first;
        while (end < parts.length && at + bytes + parts[end]!.length + parts[end + 1]!.length <= segmentBytes) {
          bytes += parts[end]!.length + parts[end + 1]!.length;
          end += 2;
        }
        if (end === first) {
          rotate();
          continue;
        }
        if (!dirSynced) {
          syncDir(dir);
          dirSynced = true;
        }
        const buf = end - first === 2 ? Buffer.concat([parts[first]!, parts[first + 1]!]) : Buffer.concat(parts.slice(first, end), bytes);
        const wrote = writeSync(fd, buf, 0, buf.length, at);
        if (wrote !== buf.length) throw new Error(`journal write cut short (${wrote} of ${buf.length} bytes)`);
        at += buf.length;
        first = end;
      }
      if (next === undefined && at > segmentBytes / 2) prepare();
    },
    sync(done) {
      const target = fd;
      syncing.set(target, (syncing.get(target) ?? 0) + 1);
      fdatasync(target, (err) => {
        const left = syncing.get(target)! - 1;
        if (left === 0) syncing.delete(target);
        else syncing.set(target, left);
        if (left === 0 && target !== fd) closeSync(target);
        done(err);
      });
    },
    close() {
      if (!syncing.has(fd)) closeSync(fd);
      const pending = next;
      next = undefined;
      void pending?.ready.then((f) => f !== undefined && closeSync(f));
    },
  };
}

/**
 * The ingester, as JavaScript source (it runs on the primary's outbox thread, and once on the
 * event loop when the primary opens the outbox): `(db, commit, { dir, walPath }, fs, zlib)` returns
 * `ingest(everything)`, which moves every complete record older than now (with `everything`: all
 * of them, from writers that are gone only) into the outbox, in one transaction with each
 * segment's read position and each writer's totals (what a worker's quota check subtracts). A
 * segment is deleted once it is read to its end and its writer has moved on (a later segment) or
 * is gone (its process no longer exists); before that the outbox's WAL is synced, so no event is
 * only in a deleted segment. `commit` is MAKE_COMMIT's, with quotas that never refuse (the events
 * are acknowledged) unless the oldest make room.
 */
export const MAKE_INGEST = `(db, commit, { dir, walPath }, fs, zlib) => {
  const HEADER = 8;
  const MAX_RECORD = 16 * 1024 * 1024;
  const getAt = db.prepare("SELECT offset FROM journal_segments WHERE name = ?");
  const setAt = db.prepare("INSERT INTO journal_segments (name, offset) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET offset = excluded.offset");
  const forget = db.prepare("DELETE FROM journal_segments WHERE name = ?");
  const known = db.prepare("SELECT name FROM journal_segments");
  const addOwner = db.prepare("INSERT INTO journal_owners (owner, events, bytes) VALUES (?, ?, ?) ON CONFLICT(owner) DO UPDATE SET events = events + excluded.events, bytes = bytes + excluded.bytes");
  const dropOwner = db.prepare("DELETE FROM journal_owners WHERE owner = ?");
  const fds = new Map();
  let buf = Buffer.alloc(256 * 1024);
  const gone = (owner) => {
    try { process.kill(Number(owner.split("-")[0]), 0); return false; } catch (e) { return e.code === "ESRCH"; }
  };
  // One segment's complete records from position start, oldest first, while older than until.
  // Returns where reading stopped, and whether the segment's valid part ended there.
  const read = (name, fd, start, until, out) => {
    let filled = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, filled, buf.length - filled, start + filled);
      filled += n;
      let p = 0;
      while (p + HEADER <= filled) {
        const len = buf.readUInt32LE(p);
        if (len === 0 || len > MAX_RECORD) return { at: start + p, ended: true };
        if (p + HEADER + len > filled) break;
        const payload = buf.subarray(p + HEADER, p + HEADER + len);
        if (zlib.crc32(payload) !== buf.readUInt32LE(p + 4)) return { at: start + p, ended: true };
        let r;
        try { r = JSON.parse(payload.toString("utf8")); } catch { return { at: start + p, ended: true }; }
        if (r[0] >= until) return { at: start + p, ended: false };
        const value = typeof r[4] === "string" ? r[4] : Buffer.from(r[4].b64, "base64");
        out.push({ us: r[0], name, r, value, size: Buffer.byteLength(r[3]) + (typeof value === "string" ? Buffer.byteLength(value) : value.length) });
        p += HEADER + len;
      }
      if (n === 0) return { at: start + p, ended: true }; // the segment's end
      if (p === 0 && filled === buf.length) buf = Buffer.concat([buf, Buffer.alloc(buf.length)]); // a record longer than the buffer
      buf.copy(buf, 0, p, filled);
      start += p;
      filled -= p;
    }
  };
  return (everything) => {
    const until = everything ? Infinity : Number(process.hrtime.bigint() / 1000n);
    let names;
    try { names = fs.readdirSync(dir); } catch { return 0; }
    const segs = names.filter((n) => n.endsWith(".seg")).sort();
    const ownerOf = (n) => n.slice(0, n.lastIndexOf("-"));
    // Checked before reading: a segment's writer has moved on, or is gone.
    const sealed = new Set();
    const deadOwners = new Set();
    for (let i = 0; i < segs.length; i++) {
      const owner = ownerOf(segs[i]);
      if (i + 1 < segs.length && ownerOf(segs[i + 1]) === owner) sealed.add(segs[i]);
      else if (gone(owner)) { sealed.add(segs[i]); deadOwners.add(owner); }
    }
    // Read and stored in one transaction: a second ingester (the primary's event loop at close)
    // starts where this one ended.
    const finished = [];
    let count = 0;
    db.transaction(() => {
      const found = [];
      for (const name of segs) {
        if (everything && !sealed.has(name)) continue;
        let fd = fds.get(name);
        if (fd === undefined) { fd = fs.openSync(dir + "/" + name, "r"); fds.set(name, fd); }
        const from = getAt.get(name)?.offset ?? 0;
        const r = read(name, fd, from, until, found);
        if (r.at !== from) setAt.run(name, r.at);
        if (r.ended && sealed.has(name)) finished.push(name);
      }
      found.sort((a, b) => a.us - b.us);
      const rows = [];
      const owners = new Map();
      for (const f of found) {
        const r = f.r;
        rows.push(r[2], r[3], f.value, r[5], r[6], r[7], r[1]);
        const owner = ownerOf(f.name);
        const t = owners.get(owner) ?? { events: 0, bytes: 0 };
        t.events += 1; t.bytes += f.size;
        owners.set(owner, t);
      }
      if (rows.length > 0) commit(rows);
      for (const [owner, t] of owners) addOwner.run(owner, t.events, t.bytes);
      count = found.length;
    }).immediate();
    if (finished.length > 0) {
      // The rows must outlive their segment, power loss included.
      if (fs.existsSync(walPath)) { const w = fs.openSync(walPath, "r"); try { fs.fdatasyncSync(w); } finally { fs.closeSync(w); } }
      for (const name of finished) {
        const fd = fds.get(name);
        if (fd !== undefined) { fs.closeSync(fd); fds.delete(name); }
        fs.rmSync(dir + "/" + name, { force: true });
        forget.run(name);
      }
    }
    // A gone writer's unfinished next segment, and the totals of writers with nothing left.
    for (const n of names) {
      if (n.endsWith(".tmp") && gone(ownerOf(n.slice(0, -4)))) fs.rmSync(dir + "/" + n, { force: true });
    }
    const left = new Set(segs.filter((s) => !finished.includes(s)).map(ownerOf));
    for (const owner of deadOwners) if (!left.has(owner)) dropOwner.run(owner);
    // Positions of segments deleted before their row was (a crash in between).
    if (finished.length > 0 || everything) for (const { name } of known.all()) if (!names.includes(name)) forget.run(name);
    return count;
  };
}`;
