/**
 * `npm start -- ...flags` as a new user runs it, for the tests of the real entry point. It runs in
 * a process group of its own (npm does not pass SIGTERM on to what it runs), is waited for until
 * its banner names the example gateway, and is stopped as a whole group, so no signer, worker or
 * development chain outlives the test.
 */
import { spawn } from "node:child_process";

export interface NpmStart {
  /** What it printed on stdout so far (the banner). */
  banner(): string;
  /** SIGTERM to the group, then SIGKILL to what is left after 10 s. */
  stop(): Promise<void>;
}

/** Whether any process of the group is still running. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startNpm(flags: string[], waitMs = 90_000): Promise<NpmStart> {
  const child = spawn("npm", ["start", "--", ...flags], {
    cwd: new URL("../../", import.meta.url),
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let banner = "";
  let errors = "";
  child.stdout!.on("data", (chunk: Buffer) => (banner += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (errors = (errors + chunk.toString()).slice(-8000)));
  const stop = async () => {
    const pgid = child.pid;
    if (pgid === undefined) return;
    if (groupAlive(pgid)) process.kill(-pgid, "SIGTERM");
    for (let i = 0; i < 100 && groupAlive(pgid); i++) await new Promise((r) => setTimeout(r, 100));
    if (groupAlive(pgid)) process.kill(-pgid, "SIGKILL");
  };
  const started = Date.now();
  while (!/gateway:/.test(banner)) {
    if (child.exitCode !== null || Date.now() - started > waitMs) {
      await stop();
      throw new Error(`npm start did not come up:\n${banner}\n${errors}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { banner: () => banner, stop };
}
