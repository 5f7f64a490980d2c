/** Starts a development chain and signers against it as child processes (for bench/ scripts). */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createEthSigner } from "../../src/crypto/eth-sign.js";
import { SIGNER_V8_FLAGS } from "../../src/cluster/v8-flags.js";
import { buildDist } from "../../test/support/build-once.js";

/** Starts `node args…` and resolves with its child and the first stdout match of `pattern`. */
export function startProcess(args: string[], env: NodeJS.ProcessEnv, pattern: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = pattern.exec(out);
      if (match) {
        child.stdout!.off("data", onData);
        child.stdout!.resume();
        resolve({ child, match });
      }
    };
    child.stdout!.on("data", onData);
    let err = "";
    child.stderr!.on("data", (c: Buffer) => (err += c.toString()).length > 4000 && (err = err.slice(-2000)));
    child.once("exit", (code) => reject(new Error(`${args.find((a) => /\.(ts|js)$/.test(a)) ?? args[0]} exited (${code}): ${err.slice(-1000)}`)));
  });
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

export interface DevChainProcess {
  child: ChildProcess;
  ethUrl: string;
  controller: string;
  /** The throwaway key funded on the chain, for the signers. */
  key: Buffer;
}

/** `alsoFund`: more addresses to fund (keys held by key backends). */
export async function startDevChainProcess(alsoFund: string[] = []): Promise<DevChainProcess> {
  const key = randomBytes(32); // throwaway, funded on the throwaway chain
  const address = createEthSigner(key).addressHex;
  const fund = [address, ...alsoFund].flatMap((a) => ["-fund", a]);
  const chain = await startProcess(["--import", "tsx", "src/dev-chain/main.ts", "-port", "0", ...fund], {}, /url:\s+(\S+)[\s\S]*controller:\s+(\S+)[\s\S]*\n={20,}\n/);
  return { child: chain.child, ethUrl: chain.match[1]!, controller: chain.match[2]!, key };
}

/** The V8 flags `npm start` gives the signer's process (package.json). */
const NPM_START_V8_FLAGS = SIGNER_V8_FLAGS;

let built = false;
/** Builds dist/ once (as `npm start` does): the signers run compiled, as operators run them. */
function buildOnce(): void {
  if (built) return;
  buildDist();
  built = true;
}

/** A signer (`-workers N`) on a loopback port against the chain, run as `npm start` runs it (compiled); resolves once it is serving. */
export async function startSignerProcess(chain: DevChainProcess, workers: number): Promise<{ child: ChildProcess; url: string }> {
  return startSignerWithKey(chain, workers, [], { LPSIGNER_UNSAFE_DEV_PRIVATE_KEY: "0x" + chain.key.toString("hex") });
}

/** The same, with the key given by `keyArgs` and `keyEnv` (a key backend's flags, or a dev key). */
export async function startSignerWithKey(chain: DevChainProcess, workers: number, keyArgs: string[], keyEnv: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string }> {
  buildOnce();
  const signer = await startProcess(
    [...NPM_START_V8_FLAGS, "bin/lpsigner.js", "-ethUrl", chain.ethUrl, "-ethController", chain.controller, "-httpAddr", "127.0.0.1:0", "-workers", String(workers), "-logLevel", "warn", ...keyArgs],
    keyEnv,
    /serving:\s+(http:\/\/\S+)/,
  );
  return { child: signer.child, url: signer.match[1]! };
}

/** The floor server (floor-server.ts) with `workers` processes spending `workUs` of CPU per call. */
export async function startFloorServer(workers: number, workUs: number): Promise<{ child: ChildProcess; url: string }> {
  const floor = await startProcess([...NPM_START_V8_FLAGS, "--import", "tsx", "bench/load/floor-server.ts", "-workers", String(workers), "-workUs", String(Math.round(workUs))], {}, /serving:\s+(http:\/\/\S+)/);
  return { child: floor.child, url: floor.match[1]! };
}
