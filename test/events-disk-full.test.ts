/**
 * A disk that is really full (a 1 MiB tmpfs, mounted in a user and mount namespace of the test's
 * own, filled to ENOSPC), for a single process and for a -workers worker: the outbox refuses the
 * append as unavailable (what the payment path
 * answers 503 / UNAVAILABLE with nothing returned), stores nothing of a refused one, keeps its
 * counters equal to its rows, and takes appends again once there is room. Needs unshare
 * (util-linux) and user namespaces (root, or unprivileged ones enabled).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";

const unshare = ["/usr/bin/unshare", "/bin/unshare"].find((p) => existsSync(p));
const mount = ["/usr/bin/mount", "/bin/mount"].find((p) => existsSync(p));
const canMount = () => spawnSync(unshare!, ["--map-root-user", "--mount", "true"]).status === 0;
const missing = !unshare || !mount ? "unshare and mount (util-linux)" : !canMount() ? "a mount namespace (unshare --map-root-user --mount failed: run as root or enable user namespaces)" : undefined;
if (missing) console.warn(`SKIPPED: the outbox's disk-full test needs ${missing}`);

const dir = mkdtempSync(join(tmpdir(), "lpsigner-disk-full-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(missing !== undefined)("the outbox on a full disk", () => {
  test.each([
    ["a single process (SQLite's WAL)", "only"],
    ["a -workers worker (its journal, moved in by the primary)", "worker"],
  ])("%s: refused as unavailable, nothing half-stored, counters equal to the rows; room again: appends resume", async (_name, role) => {
    const mnt = mkdtempSync(join(dir, `${role}-`));
    const child = spawn(
      unshare!,
      ["--map-root-user", "--mount", "sh", "-c", `${mount} -t tmpfs -o size=1m tmpfs "$1" && exec "$0" --import tsx test/support/outbox-disk-full.ts "$1" "$2"`, process.execPath, mnt, role],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(code, err).toBe(0);
    const r = JSON.parse(out.trim().split("\n").at(-1)!) as {
      fillerBytes: number;
      storedWhenFull: number;
      refusal?: { name: string; message: string };
      refusedAgain: boolean;
      resumed: number;
      stored: string[];
      rows: string[];
      counted: { depth: number; bytes: number };
      stats: { depth: number; bytes: number };
    };
    expect(r.fillerBytes).toBeGreaterThan(0);
    expect(r.storedWhenFull).toBeGreaterThanOrEqual(10);
    expect(r.refusal?.name).toBe("OutboxUnavailableError");
    expect(r.refusal?.message).toMatch(role === "only" ? /outbox write failed: database or disk is full/ : /ENOSPC/);
    expect(r.refusedAgain).toBe(true);
    expect(r.resumed).toBe(20);
    // Exactly the acknowledged appends, in order: a refused one left nothing behind.
    expect(r.rows).toEqual(r.stored);
    expect(r.stats).toEqual(r.counted);
  }, 120_000);
});
