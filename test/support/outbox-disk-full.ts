/**
 * Run by test/events-disk-full.test.ts inside a user and mount namespace of its own, with a small
 * tmpfs mounted at argv[2]: an outbox there (argv[3]: "only", a single process's, or "worker", a
 * -workers worker's journal), a filler file taking the rest of the space, appends until one is
 * refused; then the filler goes and appends go on. A worker's journal is then moved in by a
 * primary. Prints one JSON line of what it saw (the test asserts).
 */
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { openOutbox, OutboxUnavailableError, type OutboxRole } from "../../src/events/outbox.js";

const dir = process.argv[2]!;
const role = process.argv[3] as OutboxRole;
const path = join(dir, "events.db");
// A worker's segments are small here, so the full disk is met when the next one is made.
const outbox = openOutbox({ path, maxBytes: 1e9, maxCount: 1e7, role, journalSegmentBytes: 64 * 1024 });
const event = (n: number) => ({ id: `disk-${n}`, key: `disk-${n}`, value: `{"n":${n},"pad":"${"p".repeat(900)}"}` });

let n = 0;
const stored: string[] = [];
// Some events in before the disk fills.
for (; n < 10; n++) {
  await outbox.append([event(n)]);
  stored.push(`disk-${n}`);
}

// The filler: everything the tmpfs has left, written until it says ENOSPC.
const filler = join(dir, "filler");
const fd = openSync(filler, "w");
const chunk = Buffer.alloc(4096, 1);
let fillerBytes = 0;
try {
  for (;;) fillerBytes += writeSync(fd, chunk);
} catch (err) {
  if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
}
closeSync(fd);

let refusal: { name: string; message: string } | undefined;
// Appends until one is refused (the WAL, the file or the segment can take a few before they must grow).
for (; n < 5000 && !refusal; n++) {
  try {
    await outbox.append([event(n)]);
    stored.push(`disk-${n}`);
  } catch (err) {
    refusal = { name: (err as Error).name, message: (err as Error).message };
    if (!(err instanceof OutboxUnavailableError)) throw err;
  }
}
const storedWhenFull = stored.length;
// A second refusal while still full, then room again.
let refusedAgain = false;
try {
  await outbox.append([event(n++)]);
} catch (err) {
  refusedAgain = err instanceof OutboxUnavailableError;
}
rmSync(filler);
let resumed = 0;
for (let i = 0; i < 20; i++, n++) {
  try {
    await outbox.append([event(n)]);
    stored.push(`disk-${n}`);
    resumed++;
  } catch {
    // not yet
  }
}
outbox.close();
// A worker's journal, moved in by a primary as the signer's would (at its start, its worker gone).
if (role === "worker") openOutbox({ path, maxBytes: 1e9, maxCount: 1e7, role: "primary" }).close();
const reader = openOutbox({ path, maxBytes: 1e9, maxCount: 1e7, readOnly: true });
const stats = reader.stats();
reader.close();
const db = new Database(path, { readonly: true });
const rows = db.prepare("SELECT id FROM events ORDER BY seq").pluck().all() as string[];
const counted = db.prepare("SELECT count(*) AS depth, coalesce(sum(length(key) + length(value)), 0) AS bytes FROM events").get();
db.close();
console.log(JSON.stringify({ fillerBytes, storedWhenFull, refusal, refusedAgain, resumed, stored, rows, counted, stats: { depth: stats.depth, bytes: stats.bytes } }));
