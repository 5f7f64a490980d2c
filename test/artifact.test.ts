/**
 * The image (Dockerfile) without a container runtime: its instructions are carried out here as
 * written, each stage in a directory standing for its root (the build stage's `npm ci` and
 * `npm run build`, the runtime stage's production install and copies), and the result is started
 * from its ENTRYPOINT with its ENV as an unprivileged user (nobody) in bubblewrap with a read-only
 * root holding only /usr, /etc, /app and the keystore and password mounted read-only, against a
 * development chain on loopback. It must be ready (/readyz, the HEALTHCHECK command), serve the
 * dashboard, sign a payment that an orchestrator's checks accept with the keystore's key, fork
 * its -workers from the compiled binary, stop cleanly on SIGTERM, and carry none of the
 * development packages.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { encryptKeystoreJson, Wallet, type HDNodeWallet } from "ethers";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SIGNER_V8_FLAGS } from "../src/cluster/v8-flags.js";
import { fromHex } from "../src/crypto/bytes.js";
import { startDevChain, type DevChain } from "../src/dev-chain/dev-chain.js";
import { createPaymentVerifier } from "../src/dev-orchestrator/payment-verifier.js";
import { orchestratorInfo, testOrchestrator } from "./support/fixtures.js";
import { gatewayPaymentBody } from "./support/net-server.js";

const root = join(import.meta.dirname, "..");
const hasBwrap = spawnSync("bwrap", ["--version"], { stdio: "ignore" }).status === 0;
if (!hasBwrap) console.warn("SKIPPED: the image artifact test needs bubblewrap (apt-get install bubblewrap)");

interface Stage {
  /** The directory standing for this stage's root. */
  dir: string;
  workdir: string;
  env: Record<string, string>;
  entrypoint: string[];
  healthcheck: string[];
  exposed: string[];
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function instructions(text: string): [string, string][] {
  return text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [, op, rest] = /^(\S+)\s+(.*)$/.exec(line)!;
      return [op!.toUpperCase(), rest!];
    });
}

function run(cmd: string, cwd: string, env: Record<string, string>): Promise<void> {
  return new Promise((done, fail) => {
    // The local npm cache is enough: the lock pins every package.
    execFile("sh", ["-c", cmd], { cwd, env: { ...process.env, ...env, npm_config_prefer_offline: "true" }, timeout: 150_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      err ? fail(new Error(`RUN ${cmd} failed:\n${stdout}\n${stderr}`)) : done(),
    );
  });
}

/** Docker's COPY: a directory's contents go into the destination; files into it when it ends in "/". */
function copy(sources: string[], fromDir: string, dest: string): void {
  for (const source of sources) {
    const from = join(fromDir, source);
    if (statSync(from).isDirectory()) cpSync(from, dest, { recursive: true });
    else {
      const to = dest.endsWith("/") || sources.length > 1 ? join(dest, source.split("/").pop()!) : dest;
      mkdirSync(dirname(to), { recursive: true });
      cpSync(from, to);
    }
  }
}

/** Carries out the Dockerfile with `context` as the build context; returns the last stage. */
async function buildDockerfile(dockerfile: string, context: string, work: string): Promise<Stage> {
  const stages = new Map<string, Stage>();
  let stage: Stage | undefined;
  const path = (s: Stage, p: string) => join(s.dir, resolve(s.workdir, p)) + (p.endsWith("/") ? "/" : "");
  for (const [op, rest] of instructions(dockerfile)) {
    if (op === "FROM") {
      const [image, as, name] = rest.split(/\s+/);
      expect(image, "a slim Node base").toMatch(/^node:\d+-\w+-slim$/);
      stage = { dir: join(work, `stage${stages.size}`), workdir: "/", env: {}, entrypoint: [], healthcheck: [], exposed: [] };
      stages.set(as?.toUpperCase() === "AS" ? name! : String(stages.size), stage);
      continue;
    }
    if (!stage) throw new Error(`${op} before FROM`);
    const words = rest.split(/\s+/);
    switch (op) {
      case "WORKDIR":
        stage.workdir = resolve(stage.workdir, rest);
        mkdirSync(path(stage, "."), { recursive: true });
        break;
      case "ENV":
        for (const word of words) {
          const [key, ...value] = word.split("=");
          stage.env[key!] = value.join("=");
        }
        break;
      case "COPY": {
        const from = /^--from=(\S+)$/.exec(words[0]!)?.[1];
        const args = from ? words.slice(1) : words;
        const dest = path(stage, args.pop()!);
        if (from) {
          const source = stages.get(from)!;
          for (const p of args) copy(["."], join(source.dir, p), dest);
        } else copy(args, context, dest);
        break;
      }
      case "RUN":
        await run(rest, path(stage, "."), stage.env);
        break;
      case "ENTRYPOINT":
        stage.entrypoint = JSON.parse(rest) as string[];
        break;
      case "HEALTHCHECK":
        stage.healthcheck = JSON.parse(/\bCMD\s+(\[.*\])$/.exec(rest)![1]!) as string[];
        break;
      case "EXPOSE":
        stage.exposed = words;
        break;
      case "USER":
        // The artifact runs as nobody (below), unprivileged as the image's user is.
        expect(rest).not.toMatch(/^(root|0)\b/);
        break;
      default:
        throw new Error(`the artifact test does not know the Dockerfile instruction ${op}`);
    }
  }
  return stage!;
}

function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/** A process and its descendants, from /proc. */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);

describe.skipIf(!hasBwrap)("the image's artifact, as an unprivileged user with a read-only root", () => {
  let work: string;
  let runtime: Stage;
  let chain: DevChain;
  let key: HDNodeWallet;
  let secrets: string;
  const buildTimes: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "lpsigner-artifact-"));
    chmodSync(work, 0o755); // nobody reaches /app and the secrets through it
    // The build context: the repository's files (.gitignore covers what .dockerignore leaves out).
    const context = join(work, "context");
    const files = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: root, encoding: "utf8" }).stdout.split("\0");
    for (const file of files) if (file && existsSync(join(root, file))) cpSync(join(root, file), join(context, file));
    const started = Date.now();
    runtime = await buildDockerfile(readFileSync(join(root, "Dockerfile"), "utf8"), context, work);
    buildTimes.push(`built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(`artifact: ${buildTimes.join(", ")}`);

    chain = await startDevChain({ port: 0 });
    key = Wallet.createRandom(); // test-only key
    await chain.fundSender({ address: key.address, deposit: 10n ** 18n, reserve: 10n ** 18n });
    // A real go-ethereum keystore file and its password file, mounted read-only.
    secrets = join(work, "secrets");
    mkdirSync(secrets, { mode: 0o755 });
    const json = await encryptKeystoreJson({ address: key.address, privateKey: key.privateKey }, "artifact-password", { scrypt: { N: 1024 } });
    writeFileSync(join(secrets, "keystore"), json, { mode: 0o444 });
    writeFileSync(join(secrets, "password"), "artifact-password\n", { mode: 0o444 });
  }, 300_000);

  afterAll(async () => {
    await chain?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** The runtime stage's ENTRYPOINT with `args`, in bubblewrap as nobody: /usr, /etc, /app and the secrets, all read-only. */
  function startArtifact(args: string[], env: Record<string, string> = {}): ChildProcess {
    const mounts = [
      "--ro-bind", "/usr", "/usr",
      "--symlink", "usr/bin", "/bin",
      "--symlink", "usr/lib", "/lib",
      "--symlink", "usr/lib64", "/lib64",
      "--ro-bind", "/etc", "/etc",
      "--dev", "/dev",
      "--proc", "/proc",
      // The stage's own files (/app): the base image's part of the root is the host's /usr and /etc.
      ...readdirSync(runtime.dir).flatMap((top) => ["--ro-bind", join(runtime.dir, top), `/${top}`]),
      "--ro-bind", join(secrets, "keystore"), "/run/secrets/keystore",
      "--ro-bind", join(secrets, "password"), "/run/secrets/password",
      "--remount-ro", "/",
    ];
    const sandbox = ["--unshare-user", "--uid", "65534", "--gid", "65534", "--unshare-pid", "--die-with-parent", "--chdir", runtime.workdir, ...mounts];
    // As root, drop to nobody first, so the signer is unprivileged outside its namespace too.
    const asNobody = process.getuid?.() === 0 ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] : [];
    const [cmd, ...rest] = [...asNobody, "bwrap", ...sandbox, "--", ...runtime.entrypoint, ...args];
    return spawn(cmd!, rest, {
      // A container's environment: PATH and the image's ENV only.
      env: { PATH: "/usr/local/bin:/usr/bin:/bin", ...runtime.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
  }

  /** Its output and exit code; killed after 45 s (bwrap's --die-with-parent takes the rest with it). */
  function collect(child: ChildProcess) {
    const out = { stdout: "", stderr: "", code: undefined as number | null | undefined };
    child.stdout!.on("data", (d: Buffer) => (out.stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (out.stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 45_000);
    const exited = new Promise<number | null>((done) =>
      child.on("close", (code) => {
        clearTimeout(timer);
        done((out.code = code));
      }),
    );
    return { out, exited };
  }

  test("the runtime install holds production dependencies only, and the Dockerfile's defaults agree on the port", () => {
    const app = join(runtime.dir, runtime.workdir);
    const modules = join(app, "node_modules");
    for (const dev of ["@nomicfoundation/edr", "typescript", "tsx", "solc", "vite", "vitest"]) expect(existsSync(join(modules, dev)), dev).toBe(false);
    for (const needed of ["ethers", "@connectrpc/connect-node", "secp256k1", "pino"]) expect(existsSync(join(modules, needed)), needed).toBe(true);
    expect(existsSync(join(app, "dist", "src", "dev-chain", "artifacts", "contracts.json"))).toBe(true);
    expect(runtime.env.LP_HTTPADDR).toBe("0.0.0.0:8935");
    expect(runtime.exposed).toEqual(["8935"]);
    expect(runtime.healthcheck.join(" ")).toContain("http://127.0.0.1:8935/readyz");
  });

  test("--help; without -ethUrl the image refuses its keystore, and without a keystore says the dev chain needs EDR", { timeout: 150_000 }, async () => {
    const help = collect(startArtifact(["--help"]));
    expect(await help.exited, help.out.stderr).toBe(0);
    expect(help.out.stdout.split("\n")[0]).toBe("Usage: lpsigner [flags]");

    const listen = ["-httpAddr", `127.0.0.1:${await freePort()}`];
    const noChain = collect(startArtifact(listen));
    expect(await noChain.exited, noChain.out.stderr).toBe(2);
    expect(noChain.out.stderr).toMatch(/^lpsigner: -ethKeystorePath names a key but there is no -ethUrl/);

    const devChain = collect(startArtifact(listen, { LP_ETHKEYSTOREPATH: "", LP_ETHPASSWORD: "" }));
    expect(await devChain.exited, devChain.out.stderr).toBe(1);
    expect(devChain.out.stderr).toBe(
      "lpsigner: failed to start: the development chain needs the optional dependency @nomicfoundation/edr, which is not installed " +
        "(run npm install on a supported platform), or pass -ethUrl to use a real chain\n",
    );
  });

  test("against the chain: ready, health-checked, dashboard served, a payment signed with the keystore's key; -workers 2; SIGTERM stops it", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = startArtifact(["-ethUrl", chain.url, "-ethController", chain.controllerAddress, "-httpAddr", `127.0.0.1:${port}`, "-workers", "2", "-logLevel", "warn"]);
    const { out, exited } = collect(child);
    try {
      let ready = 0;
      // Ready, and the primary's banner printed (workers may answer before it is).
      for (let i = 0; i < 300 && (ready !== 200 || !out.stdout.includes("serving:")) && out.code === undefined; i++) {
        ready = await fetch(`${url}/readyz`).then((r) => r.status, () => 0);
        // Also while ready but the banner is not out yet: without a pause the 300 tries pass in a blink.
        if (ready !== 200 || !out.stdout.includes("serving:")) await new Promise((r) => setTimeout(r, 100));
      }
      expect(ready, `${out.stdout}\n${out.stderr}`).toBe(200);
      expect(out.stdout).toContain(`signer address: ${key.address}`);

      // The image's HEALTHCHECK command, pointed at this port.
      const [hcCmd, ...hcArgs] = runtime.healthcheck.map((a) => a.replace("127.0.0.1:8935", `127.0.0.1:${port}`));
      expect(spawnSync(hcCmd!, hcArgs, { timeout: 10_000 }).status).toBe(0);

      expect((await fetch(`${url}/dashboard/`)).status).toBe(200);

      const orch = testOrchestrator();
      const block = BigInt(await chain.provider.getBlockNumber());
      const info = orchestratorInfo({ orch, creationRound: 0n, expirationBlock: block + 100n, authExpiration: BigInt(Math.floor(Date.now() / 1000) + 1800) });
      const res = await fetch(`${url}/generate-live-payment`, { method: "POST", body: gatewayPaymentBody(info) });
      const text = await res.text();
      expect(res.status, text).toBe(200);
      const body = JSON.parse(text) as { payment: string; segCreds: string };
      const verifier = createPaymentVerifier({ orch, sender: fromHex(key.address), expectedPrice: { pricePerUnit: 1n, pixelsPerUnit: 1n }, lastSeenL1Block: () => block });
      verifier.accept(body.payment, body.segCreds, "m");

      // The primary and its two workers: compiled code, V8 flags as under npm start, all nobody.
      const nodes = processTree(child.pid!).filter((pid) => /(^|\/)node$/.test(cmdline(pid)[0]!));
      expect(nodes).toHaveLength(3);
      // nobody, as seen from here: the user itself when not run as root (bwrap maps it to nobody inside).
      const uid = process.getuid?.() === 0 ? 65534 : process.getuid?.();
      for (const pid of nodes) {
        for (const flag of SIGNER_V8_FLAGS) expect(cmdline(pid)).toContain(flag);
        expect(cmdline(pid).join(" ")).not.toMatch(/tsx|\.ts\b/);
        expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(new RegExp(`^Uid:\\s+${uid}\\s`, "m"));
      }
      expect(nodes.filter((pid) => cmdline(pid).includes("--single-threaded-gc"))).toHaveLength(3);

      process.kill(nodes[0]!, "SIGTERM");
      expect(await exited, out.stderr).toBe(0);
      expect(out.stderr).toBe("");
    } finally {
      if (out.code === undefined) child.kill("SIGKILL");
    }
  }, 90_000);
});
