/**
 * `npm run events`: the outbox's events as NDJSON (the stored envelopes, oldest first), --since
 * filtering by when they were written, --follow printing events written after it started.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { openOutbox } from "../src/events/outbox.js";

const dir = mkdtempSync(join(tmpdir(), "lpsigner-events-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const path = join(dir, "events.db");

const envelope = (i: number) => `{"id":"id-${i}","type":"create_signed_ticket","timestamp":"${1_700_000_000_000 + i}","gateway":"","data":{"n":${i}}}`;
const event = (i: number) => ({ id: `id-${i}`, key: `id-${i}`, value: Buffer.from(envelope(i)) });

function events(...args: string[]): string[] {
  const r = spawnSync("npm", ["run", "--silent", "events", "--", "-eventsDb", path, ...args], { encoding: "utf8", timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split("\n").filter((l) => l !== "");
}

test("prints every event as NDJSON, --since keeps the later ones, --follow prints new ones", async () => {
  const outbox = openOutbox({ path, maxBytes: 1 << 20, maxCount: 1000 });
  try {
    await outbox.append([event(1), event(2)]);
    await new Promise((r) => setTimeout(r, 30));
    const mid = Date.now();
    await new Promise((r) => setTimeout(r, 30));
    await outbox.append([event(3)]);

    const all = events();
    expect(all).toEqual([envelope(1), envelope(2), envelope(3)]);
    for (const line of all) expect(JSON.parse(line).type).toBe("create_signed_ticket");
    expect(events("--since", String(mid))).toEqual([envelope(3)]);
    expect(events("--since", new Date(mid).toISOString())).toEqual([envelope(3)]);
    expect(events("--since", "1h")).toEqual([envelope(1), envelope(2), envelope(3)]);

    const child = spawn("npm", ["run", "--silent", "events", "--", "-eventsDb", path, "--since", String(mid), "--follow"], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    try {
      const until = async (n: number) => {
        for (let i = 0; i < 300 && out.split("\n").filter(Boolean).length < n; i++) await new Promise((r) => setTimeout(r, 50));
      };
      await until(1);
      await outbox.append([event(4)]);
      await until(2);
      expect(out.split("\n").filter(Boolean)).toEqual([envelope(3), envelope(4)]);
    } finally {
      process.kill(-child.pid!, "SIGTERM");
    }
  } finally {
    outbox.close();
  }
}, 120_000);

test("no outbox at the path: a one-line error, exit 2", () => {
  const r = spawnSync("npm", ["run", "--silent", "events", "--", "-eventsDb", join(dir, "missing.db")], { encoding: "utf8", timeout: 60_000 });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/no event outbox at .*missing\.db/);
});

test("a reader that stops early (`| head`): the listing ends quietly, exit 0", async () => {
  const many = join(dir, "many.db");
  const outbox = openOutbox({ path: many, maxBytes: 64 << 20, maxCount: 100_000 });
  // Several times a pipe's buffer (64 KiB), so the listing is still writing when the reader goes.
  await outbox.append(Array.from({ length: 5000 }, (_, i) => event(i)));
  outbox.close();
  const child = spawn("npm", ["run", "--silent", "events", "--", "-eventsDb", many], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  let first = "";
  await new Promise<void>((resolve) =>
    child.stdout!.once("data", (c: Buffer) => {
      first = c.toString().split("\n")[0]!;
      child.stdout!.destroy();
      resolve();
    }),
  );
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  expect(first).toBe(envelope(0));
  expect(stderr).toBe("");
  expect(code).toBe(0);
}, 120_000);

test("--since without a value, or in no form it knows: a one-line error naming it, exit 2", () => {
  for (const [args, message] of [
    [["--since"], /--since needs a value/],
    [["--since", "2026-13-45T00:00:00Z"], /--since: "2026-13-45T00:00:00Z" is not a valid RFC 3339 time/],
    [["--since", "yesterday"], /--since: "yesterday" is not an RFC 3339 time, Unix milliseconds or a duration/],
  ] as const) {
    const r = spawnSync("npm", ["run", "--silent", "events", "--", "-eventsDb", path, ...args], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe("");
  }
}, 120_000);

test("a file that is not an outbox: a one-line error naming it, exit 2, the file untouched", () => {
  const garbage = join(dir, "garbage.db");
  writeFileSync(garbage, "not a database at all, just text\n".repeat(200));
  const before = readFileSync(garbage);
  const r = spawnSync("npm", ["run", "--silent", "events", "--", "-eventsDb", garbage], { encoding: "utf8", timeout: 60_000 });
  expect(r.status).toBe(2);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).toContain(`cannot read the event outbox ${garbage}: file is not a database`);
  expect(readFileSync(garbage).equals(before)).toBe(true);
}, 60_000);
