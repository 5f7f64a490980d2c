/**
 * Runs a real go-ethereum clef (v1.16, built by clef-build.sh) headless on loopback for the
 * JSON-RPC backend test: a fresh keystore and config dir holding one known test key, the master
 * seed initialised, the key's password stored (`clef setpw`) and a rules file attested
 * (`clef attest`) that auto-approves listing accounts and signing text/plain data.
 * Every password goes over stdin, as clef reads them; none is on a command line.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet, encryptKeystoreJsonSync } from "ethers";

/** Keep in step with clef-build.sh. */
export const CLEF_VERSION = "v1.16.9";

export function clefBinary(): string {
  const cache = process.env.LP_TOOLS_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "lpsigner-tools");
  return join(cache, `clef-${CLEF_VERSION}`, "clef");
}

export const clefAvailable = (): boolean => existsSync(clefBinary());

/** Lists accounts; signs EIP-191 text only (lpsigner's one use), refuses every other kind. */
const RULES = `// lpsigner test rules: approve listing and text/plain (EIP-191) signing, nothing else.
function ApproveListing() { return "Approve" }
function ApproveSignData(req) { return req.content_type == "text/plain" ? "Approve" : "Reject" }
`;

// Test-only secrets, written to clef's stdin.
const MASTER_PASSWORD = "lpsigner-test-master";
const KEYSTORE_PASSWORD = "lpsigner-test-keystore";

export interface Clef {
  readonly address: string;
  /** http://127.0.0.1:port/ while running (the port stays the same across restarts). */
  readonly url: string;
  start(): Promise<void>;
  /** SIGKILL: the outage test's abrupt stop. */
  stop(): Promise<void>;
  /** stop, then remove its files. */
  dispose(): Promise<void>;
  /** What clef printed (for a failing assertion's message). */
  output(): string;
}

/** Runs `clef <args>` to completion with `input` on stdin. */
function runClef(args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(clefBinary(), args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`clef ${args.at(-2) ?? ""} ${args.at(-1)} exited ${code}:\n${out}`));
    });
    child.stdin.end(input);
  });
}

/** scryptN: the keystore file's scrypt cost; clef decrypts the file on every signature. */
export async function setupClef(privateKey: string, opts: { scryptN?: number } = {}): Promise<Clef> {
  const dir = mkdtempSync(join(tmpdir(), "lpsigner-clef-"));
  const keystore = join(dir, "keystore");
  const configdir = join(dir, "config");
  const rules = join(dir, "rules.js");
  const wallet = new Wallet(privateKey);
  // Light scrypt (N=4096) by default keeps the test quick; go-ethereum decrypts whatever N the file names.
  const json = encryptKeystoreJsonSync({ address: wallet.address, privateKey }, KEYSTORE_PASSWORD, { scrypt: { N: opts.scryptN ?? 1 << 12 } });
  writeFileSync(rules, RULES);
  mkdirSync(keystore, { mode: 0o700 });
  writeFileSync(join(keystore, `UTC--test--${wallet.address.slice(2).toLowerCase()}`), json, { mode: 0o600 });

  const common = ["--suppress-bootwarn", "--configdir", configdir, "--lightkdf"];
  await runClef([...common, "init"], `${MASTER_PASSWORD}\n${MASTER_PASSWORD}\n`);
  await runClef([...common, "setpw", wallet.address], `${KEYSTORE_PASSWORD}\n${KEYSTORE_PASSWORD}\n${MASTER_PASSWORD}\n`);
  const sha = createHash("sha256").update(RULES).digest("hex");
  await runClef([...common, "attest", sha], `${MASTER_PASSWORD}\n`);

  let port = 0;
  let child: ChildProcess | undefined;
  let log = "";

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const args = [
        ...common,
        "--keystore", keystore,
        "--chainid", "1337",
        "--http", "--http.addr", "127.0.0.1", "--http.port", String(port),
        "--rules", rules,
        "--nousb",
      ];
      const c = spawn(clefBinary(), args, { stdio: ["pipe", "pipe", "pipe"] });
      child = c;
      let seen = "";
      const timer = setTimeout(() => {
        c.kill("SIGKILL");
        reject(new Error(`clef did not open its HTTP endpoint within 20 s:\n${seen}`));
      }, 20_000);
      const onData = (d: Buffer) => {
        seen += d.toString();
        log += d.toString();
        if (/Rule hash not attested|Failed to open master/.test(seen)) {
          clearTimeout(timer);
          c.kill("SIGKILL");
          reject(new Error(`clef started without its rules (it would prompt on stdin):\n${seen}`));
        }
        const m = /HTTP endpoint opened\s+url=http:\/\/127\.0\.0\.1:(\d+)/.exec(seen);
        if (m) {
          clearTimeout(timer);
          if (!/Rule engine configured/.test(seen)) {
            c.kill("SIGKILL");
            reject(new Error(`clef opened HTTP without its rule engine:\n${seen}`));
            return;
          }
          port = Number(m[1]);
          resolve();
        }
      };
      c.stdout!.on("data", onData);
      c.stderr!.on("data", onData);
      c.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      // The master password, as clef asks for it at start; stdin stays open (clef reads it on
      // any prompt, and the rules leave none).
      c.stdin!.write(`${MASTER_PASSWORD}\n`);
    });

  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill("SIGKILL");
    await exited;
  };

  await start();
  return {
    address: wallet.address,
    get url() {
      return `http://127.0.0.1:${port}/`;
    },
    start,
    stop,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    output: () => log,
  };
}
