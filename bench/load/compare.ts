/**
 * --compare NAME=COMMAND: another signer, started by a shell command on the bench's development
 * chain and measured beside lpsigner's own in the same runs.
 *
 * The command runs in its own process group with ETH_URL and ETH_CONTROLLER (the chain), BENCH_KEY
 * and BENCH_ADDRESS (a throwaway key the bench funded on the chain: ETH, a TicketBroker deposit
 * and reserve) and BENCH_FUND_HELP (how to fund another key), and must print, on stdout or stderr,
 * a line `serving: http://HOST:PORT pid: N` once it answers. N is the process whose tree is
 * measured (CPU, RSS); without `pid:` it is the command's shell, which `exec` makes the signer.
 * Its output goes to a log file; at the end its whole process group gets SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEthSigner } from "../../src/crypto/eth-sign.js";

export interface CompareSpec {
  name: string;
  command: string;
  /** The throwaway key handed to the command, funded when the chain starts. */
  key: Buffer;
  address: string;
}

export interface CompareProcess {
  spec: CompareSpec;
  url: string;
  pid: number;
  log: string;
  stop(): Promise<void>;
}

/** How long a command may take to print its `serving:` line (a Go signer reads the chain first). */
const START_TIMEOUT_MS = 180_000;
const STOP_TIMEOUT_MS = 10_000;
const SERVING = /serving:\s+(http:\/\/[^\s)]+)(?:[^\n]*?\bpid:\s*(\d+))?/;

/** "NAME=COMMAND", with a fresh key for it. */
export function parseCompare(value: string): CompareSpec {
  const at = value.indexOf("=");
  if (at <= 0 || at === value.length - 1) throw new Error(`--compare: give NAME=COMMAND, got ${JSON.stringify(value)}`);
  const key = randomBytes(32); // throwaway, funded on the throwaway chain
  return { name: value.slice(0, at), command: value.slice(at + 1), key, address: createEthSigner(key).addressHex };
}

export function fundHelp(chain: { ethUrl: string; controller: string }): string {
  return (
    `BENCH_KEY (address BENCH_ADDRESS) is already funded on this chain (ETH, a TicketBroker deposit and reserve). ` +
    `To fund another key: give its address ETH (the chain accepts hardhat_setBalance), put it in a keystore file and run ` +
    `LP_ETHURL=${chain.ethUrl} npm run fund -- --ethController ${chain.controller} --ethKeystorePath FILE --ethPassword PASSWORDFILE --deposit 10 --reserve 10 ` +
    `(scripts/fund-sender.ts).`
  );
}

export async function startCompare(spec: CompareSpec, chain: { ethUrl: string; controller: string }): Promise<CompareProcess> {
  const log = join(tmpdir(), `lpsigner-bench-compare-${spec.name.replace(/[^\w.-]/g, "_")}-${process.pid}.log`);
  const out = createWriteStream(log);
  const env = {
    ...process.env,
    ETH_URL: chain.ethUrl,
    ETH_CONTROLLER: chain.controller,
    BENCH_KEY: "0x" + spec.key.toString("hex"),
    BENCH_ADDRESS: spec.address,
    BENCH_FUND_HELP: fundHelp(chain),
  };
  const child = spawn("sh", ["-c", spec.command], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const stop = () => stopGroup(child);
  try {
    const { url, pid } = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
      let seen = "";
      let ready = false;
      const timer = setTimeout(() => reject(new Error(`no "serving: http://HOST:PORT pid: N" line within ${START_TIMEOUT_MS / 1000} s (log ${log})`)), START_TIMEOUT_MS);
      const onData = (chunk: Buffer) => {
        out.write(chunk);
        if (ready) return;
        seen = (seen + chunk.toString()).slice(-8000);
        const m = SERVING.exec(seen);
        // A line is whole once its newline is in: `pid:` may follow the URL in the same write or not.
        if (m && seen.indexOf("\n", m.index) >= 0) {
          clearTimeout(timer);
          ready = true;
          resolve({ url: m[1]!, pid: m[2] ? Number(m[2]) : child.pid! });
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`exited (${code ?? signal}) before serving: ${tail(log)}`));
      });
    });
    if (!exists(pid)) throw new Error(`pid ${pid} from its serving line is not running`);
    return { spec, url, pid, log, stop };
  } catch (err) {
    await stop();
    throw new Error(`--compare ${spec.name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tail(log: string): string {
  try {
    return readFileSync(log, "utf8").slice(-1500);
  } catch {
    return "";
  }
}

/** SIGTERM to the command's process group; SIGKILL if it has not exited in STOP_TIMEOUT_MS. */
async function stopGroup(child: ChildProcess): Promise<void> {
  const group = -child.pid!;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(group, s);
    } catch {
      // already gone
    }
  };
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    signal("SIGTERM");
    const timer = setTimeout(() => signal("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
  // The shell may be gone while what it started still runs.
  signal("SIGTERM");
}
