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
 * before it). A worker that moves to its next segment ends the last with an end record; a segment
 * is deleted once it is moved in to its end record, or to its valid end once its worker's process
 * is gone.
 *
 * Order: a session's next call can only be made after its previous reply, so its event is written
 * after the previous one's fsync. Each record carries the monotonic clock (µs, the same in every
 * process of a machine) at its write; the ingester takes the time T before reading, and moves only
 * records older than T, oldest first: any such record's predecessor in its session was written
 * before T, so it is read in the same pass. The outbox's seq order is then each session's order.
 */
import { closeSync, fdatasync, fdatasyncSync, fsync, fsyncSync, mkdirSync, open, openSync, rmSync, write, writeSync } from "node:fs";
import { promisify } from "node:util";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { randomBytes } from "node:crypto";

const openRaw = promisify(open);
const writeRaw = promisify(write);
const fdatasyncRaw = promisify(fdatasync);
const fsyncRaw = promisify(fsync);

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

/** A record: [u32 length][u32 crc32 of the payload][payload]. */
function frame(payload: Buffer): Buffer[] {
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt32LE(payload.length, 0);
  header.writeUInt32LE(crc32(payload), 4);
  return [header, payload];
}
// The last record of a segment its writer has left: the clock alone.
const endRecord = (us: number) => Buffer.concat(frame(Buffer.from(JSON.stringify([us]))));
// Kept free at the end of every segment for its end record.
const END_ROOM = HEADER + 32;
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

async function syncDirAsync(dir: string): Promise<void> {
  const fd = await openRaw(dir, "r");
  try {
    await fsyncRaw(fd);
  } finally {
    closeSync(fd);
  }
}

/** `durable` false (synchronous=normal): nothing is fsynced, sync() is never called. */
export function openJournal(dir: string, segmentBytes = SEGMENT_BYTES, durable = true): Journal {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const owner = `${process.pid}-${randomBytes(4).toString("hex")}`;
  const name = (n: number) => join(dir, `${owner}-${String(n).padStart(6, "0")}.seg`);
  let n = 0;
  // The current segment: descriptor, and where the next record goes.
  let fd = openSync(name(n), "wx", 0o600);
  fillZeros(fd, segmentBytes);
  syncDir(dir);
  let at = 0;
  // Written since their last fsync began (the current segment, and the one left in this batch).
  const dirty = new Set<number>();
  // fsyncs in flight per descriptor: a segment left behind is closed once its last one ends.
  const syncing = new Map<number, number>();
  const closeIfDone = (f: number) => {
    if (f !== fd && !syncing.has(f) && !dirty.has(f)) closeSync(f);
  };
  // The next segment, made in the background once the current one is half used: zero-filled a
  // chunk at a time, each synced (the disk never holds a whole segment's flush ahead of a call's
  // fsync), then its name synced, so the event loop only switches to it.
  let next: { n: number; fd?: number; abandoned?: boolean } | undefined;
  const prepare = () => {
    const p: NonNullable<typeof next> = { n: n + 1 };
    next = p;
    void (async () => {
      // Raw descriptors (a FileHandle would close its descriptor when collected).
      const f = await openRaw(name(p.n), "wx", 0o600);
      try {
        for (let off = 0; off < segmentBytes; off += ZEROS.length) {
          await writeRaw(f, ZEROS, 0, Math.min(ZEROS.length, segmentBytes - off), off);
          await fdatasyncRaw(f);
        }
        await syncDirAsync(dir);
      } catch {
        closeSync(f);
        return;
      }
      if (!p.abandoned) {
        p.fd = f;
        return;
      }
      // Passed over (rotation could not wait): ended at once, so the ingester deletes it.
      const end = endRecord(nowUs());
      writeSync(f, end, 0, end.length, 0);
      closeSync(f);
    })().catch(() => {});
  };
  // The current segment is full: the next takes over (made here if not ready), and this one gets
  // its end record. Should making one fail (a disk error), nothing changes: the write fails, and
  // the next tries again.
  const rotate = () => {
    let fresh: number;
    let freshN: number;
    if (next?.fd !== undefined) {
      fresh = next.fd;
      freshN = next.n;
    } else {
      freshN = (next?.n ?? n) + 1;
      fresh = openSync(name(freshN), "wx", 0o600);
      try {
        fillZeros(fresh, segmentBytes);
        syncDir(dir);
      } catch (err) {
        closeSync(fresh);
        rmSync(name(freshN), { force: true });
        throw err;
      }
      if (next) next.abandoned = true;
    }
    next = undefined;
    const end = endRecord(nowUs());
    writeSync(fd, end, 0, end.length, at);
    const old = fd;
    if (durable) dirty.add(old);
    fd = fresh;
    n = freshN;
    at = 0;
    closeIfDone(old);
  };
  return {
    owner,
    write(rows) {
      const us = nowUs();
      const parts: Buffer[] = [];
      for (const r of rows) {
        const value = typeof r[2] === "string" ? r[2] : { b64: Buffer.from(r[2]).toString("base64") };
        const payload = Buffer.from(JSON.stringify([us, r[6], r[0], r[1], value, r[3], r[4], r[5]]));
        if (payload.length + HEADER > segmentBytes - END_ROOM) throw new Error(`an event of ${payload.length} bytes does not fit a journal segment`);
        parts.push(...frame(payload));
      }
      // One write per segment: records that do not fit go to the next.
      let first = 0;
      while (first < parts.length) {
        let bytes = 0;
        let end = first;
        while (end < parts.length && at + bytes + parts[end]!.length + parts[end + 1]!.length <= segmentBytes - END_ROOM) {
          bytes += parts[end]!.length + parts[end + 1]!.length;
          end += 2;
        }
        if (end === first) {
          rotate();
          continue;
        }
        const buf = end - first === 2 ? Buffer.concat([parts[first]!, parts[first + 1]!]) : Buffer.concat(parts.slice(first, end), bytes);
        const wrote = writeSync(fd, buf, 0, buf.length, at);
        if (wrote !== buf.length) throw new Error(`journal write cut short (${wrote} of ${buf.length} bytes)`);
        at += buf.length;
        if (durable) dirty.add(fd);
        first = end;
      }
      if (next === undefined && at > segmentBytes / 2) prepare();
    },
    sync(done) {
      const targets = [...dirty];
      dirty.clear();
      let left = targets.length;
      let failed: Error | null = null;
      if (left === 0) return queueMicrotask(() => done(null));
      for (const target of targets) {
        syncing.set(target, (syncing.get(target) ?? 0) + 1);
        fdatasync(target, (err) => {
          const more = syncing.get(target)! - 1;
          if (more === 0) syncing.delete(target);
          else syncing.set(target, more);
          closeIfDone(target);
          failed ??= err;
          if (--left === 0) done(failed);
        });
      }
    },
    close() {
      const current = fd;
      fd = -1;
      closeIfDone(current);
      if (next) next.abandoned = true;
    },
  };
}

/**
 * The ingester, as JavaScript source (it runs on the primary's outbox thread, and once on the
 * event loop when the primary opens the outbox): `(db, commit, { dir, walPath }, fs, zlib)` returns
 * `ingest(everything)`, which moves every complete record older than now (with `everything`: all
 * of them, from writers that are gone only) into the outbox, in one transaction with each
 * segment's read position and each writer's totals (what a worker's quota check subtracts). A
 * segment is deleted once read to its end record, or to its valid end once its writer is gone (its
 * process no longer exists); before that the outbox's WAL is synced, so no event is only in a
 * deleted segment. `commit` is MAKE_COMMIT's, with quotas that never refuse (the events
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
  const ownerOf = (name) => name.slice(0, name.lastIndexOf("-"));
  const gone = (owner) => {
    try { process.kill(Number(owner.split("-")[0]), 0); return false; } catch (e) { return e.code === "ESRCH"; }
  };
  // One segment's complete records from position start, oldest first, while older than until.
  // Returns where reading stopped, and whether the segment's valid part ended there.
  const read = (name, fd, start, until, out) => {
    let filled = 0;
    // A pass usually finds tens of KiB: the first read is small (most of a segment is zeros).
    let want = 64 * 1024;
    for (;;) {
      const n = fs.readSync(fd, buf, filled, Math.min(buf.length - filled, want), start + filled);
      want *= 2;
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
        // The end record: its writer has moved to its next segment.
        if (r.length === 1) return { at: start + p + HEADER + len, ended: true, last: true };
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
  // One pass's reading and storing (see below), as one transaction.
  const pass = db.transaction((segs, until, everything, deadOwners, finished) => {
    const found = [];
    for (const name of segs) {
      if (everything && !deadOwners.has(ownerOf(name))) continue;
      let fd = fds.get(name);
      if (fd === undefined) { fd = fs.openSync(dir + "/" + name, "r"); fds.set(name, fd); }
      const from = getAt.get(name)?.offset ?? 0;
      const r = read(name, fd, from, until, found);
      if (r.at !== from) setAt.run(name, r.at);
      if (r.last || (r.ended && deadOwners.has(ownerOf(name)))) finished.push(name);
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
    return found.length;
  });
  return (everything) => {
    const until = everything ? Infinity : Number(process.hrtime.bigint() / 1000n);
    let names;
    try { names = fs.readdirSync(dir); } catch { return 0; }
    const segs = names.filter((n) => n.endsWith(".seg")).sort();
    // Checked before reading: a segment's writer is gone (its last segment has no end record).
    const deadOwners = new Set([...new Set(segs.map(ownerOf))].filter(gone));
    // Read and stored in one transaction: a second ingester (the primary's event loop at close)
    // starts where this one ended.
    const finished = [];
    const count = pass.immediate(segs, until, everything, deadOwners, finished);
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
    // The totals of writers gone with nothing left.
    const left = new Set(segs.filter((s) => !finished.includes(s)).map(ownerOf));
    for (const owner of deadOwners) if (!left.has(owner)) dropOwner.run(owner);
    // Positions of segments deleted before their row was (a crash in between).
    if (finished.length > 0 || everything) for (const { name } of known.all()) if (!names.includes(name)) forget.run(name);
    return count;
  };
}`;
