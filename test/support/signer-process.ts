/** The signer as an operator runs it: src/main.ts in a process of its own, with its output kept. */
import { spawn, type ChildProcess } from "node:child_process";

export interface SignerProcess {
  child: ChildProcess;
  url: string;
  /** Everything it printed so far, stdout and stderr. */
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts `node --import tsx src/main.ts ...flags` (env added to this process's) and resolves once it serves, within waitMs. */
export async function spawnSigner(flags: string[], env: NodeJS.ProcessEnv = {}, waitMs = 60_000): Promise<SignerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...flags], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  for (let i = 0; i < waitMs / 100 && !/serving:\s+http/.test(out); i++) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`signer exited: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const url = /serving:\s+(http:\/\/\S+)/.exec(out)?.[1];
  if (!url) throw new Error(`signer did not start: ${out}`);
  return { child, url, output: () => out, exited };
}
