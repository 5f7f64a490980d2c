/**
 * The Go and Python clients (clients/go, clients/python) run their own tests: the example
 * gateway loops against a live development signer (`npx tsx src/main.ts`), and the Go interop
 * test (test/interop-go: go-livepeer's rules with go-ethereum). A test here is skipped only
 * when its toolchain is missing, and says so; a failing `go test` or `pytest` fails `npm test`.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const root = join(import.meta.dirname, "..");
const has = (cmd: string) => spawnSync(cmd, ["--version"], { stdio: "ignore" }).status === 0 || spawnSync(cmd, ["version"], { stdio: "ignore" }).status === 0;
const hasGo = has("go");
const hasPython = has("python3");

/** A Python >= 3.12 (the Livepeer gateway SDK needs it): on PATH, or one that pyenv installed. */
function findPython312(): string | undefined {
  const pyenvRoot = process.env.PYENV_ROOT ?? join(process.env.HOME ?? "/root", ".pyenv");
  const pyenv = existsSync(join(pyenvRoot, "versions")) ? readdirSync(join(pyenvRoot, "versions")).map((v) => join(pyenvRoot, "versions", v, "bin", "python3")) : [];
  for (const cmd of ["python3", "python3.14", "python3.13", "python3.12", ...pyenv]) {
    const r = spawnSync(cmd, ["-c", "import sys; print(sys.version_info >= (3, 12))"], { encoding: "utf8" });
    if (r.status === 0 && r.stdout.trim() === "True") return cmd;
  }
  return undefined;
}
const python312 = findPython312();
if (!hasGo) console.warn("SKIPPED: the Go client tests need `go` (1.22+) on PATH");
if (!hasPython) console.warn("SKIPPED: the Python client tests need `python3` (3.11+) on PATH");
if (!python312) console.warn("SKIPPED: the Livepeer gateway SDK test needs Python 3.12+ (python3.12 on PATH or installed by pyenv)");

/** Runs a command to completion; resolves with its exit code and combined output. */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, maxBuffer: 64 << 20, env: { ...process.env, GOFLAGS: "-count=1", ...env } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}\n${stderr}` });
    });
  });
}

/** Every file under dir (relative path → contents), skipping Python's caches. */
function tree(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === "__pycache__") continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else files.set(relative(dir, p), readFileSync(p, "utf8"));
    }
  };
  walk(dir);
  return files;
}

// Run here as well as in CI so a proto change without `npm run generate:clients` fails before landing.
describe("client stubs", () => {
  test.skipIf(!hasGo || !hasPython)("match what buf.gen.clients.yaml generates from proto/", async () => {
    const tools = await run("bash", ["scripts/clients-tools.sh"], root);
    expect(tools.code, tools.output).toBe(0);
    const out = mkdtempSync(join(tmpdir(), "lpsigner-stubs-"));
    try {
      const goGen = "clients/go/gen";
      const pyGen = "clients/python/src/lpsigner_client/gen";
      const template = readFileSync(join(root, "buf.gen.clients.yaml"), "utf8")
        .replaceAll(`out: ${goGen}\n`, `out: ${join(out, "go")}\n`)
        .replaceAll(`out: ${pyGen}\n`, `out: ${join(out, "py")}\n`);
      expect(template).not.toContain("out: clients/");
      writeFileSync(join(out, "buf.gen.yaml"), template);
      const gen = await run("npx", ["buf", "generate", "--template", join(out, "buf.gen.yaml")], root);
      expect(gen.code, gen.output).toBe(0);
      for (const [fresh, committed] of [["go", goGen], ["py", pyGen]] as const) {
        const want = tree(join(out, fresh));
        const have = tree(join(root, committed));
        expect([...have.keys()].sort(), `${committed}: run npm run generate:clients`).toEqual([...want.keys()].sort());
        for (const [path, text] of want) expect(have.get(path) === text, `${committed}/${path} is stale: run npm run generate:clients`).toBe(true);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 300_000);
});

describe("Go client (clients/go)", () => {
  test.skipIf(!hasGo)("go test: the example gateway loop pays for 5 cycles against a live signer and the dev orchestrator, refreshes expiring info", async () => {
    const r = await run("go", ["test", "-count=1", "-v", "./..."], join(root, "clients/go"));
    expect(r.code, r.output).toBe(0);
    for (const name of ["LoopAgainstLiveSigner", "LoopRefreshesExpiringInfo", "LoopGivesUpAfterThreeRefreshes", "PaysTheDevOrchestrator"]) {
      expect(r.output).toMatch(new RegExp(`--- PASS: TestExampleGateway${name}`));
    }
  }, 300_000);
});

describe("go-livepeer's rules (test/interop-go)", () => {
  test.skipIf(!hasGo)("go test: a live session's tickets, segment credentials and states verified with go-ethereum", async () => {
    const r = await run("go", ["test", "-count=1", "-v", "./..."], join(root, "test/interop-go"));
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/--- PASS: TestOrchestratorRequestSignature/);
    expect(r.output).toMatch(/--- PASS: TestLiveSessionUnderGoLivepeerRules/);
    expect(r.output).toMatch(/\d+ tickets verified, [1-9]\d* winning/);
  }, 400_000);
});

describe("Python client (clients/python)", () => {
  test.skipIf(!hasPython)("pytest: the example gateway loop pays for 5 cycles against a live signer and the dev orchestrator, refreshes expiring info", async () => {
    const python = join(root, ".tools/venv/bin/python");
    if (!existsSync(python) || (await run(python, ["-c", "import lpsigner_client, connectrpc, pytest"], root)).code !== 0) {
      // A clean clone: install the pinned runtime and pytest (PyPI) into .tools/venv.
      const setup = await run("bash", ["scripts/clients-tools.sh", "python"], root);
      expect(setup.code, setup.output).toBe(0);
    }
    const r = await run(python, ["-m", "pytest", "-v", "-p", "no:cacheprovider"], join(root, "clients/python"));
    expect(r.code, r.output).toBe(0);
    for (const name of ["loop_against_live_signer", "loop_refreshes_expiring_info", "loop_gives_up_after_three_refreshes", "pays_the_dev_orchestrator"]) {
      expect(r.output).toMatch(new RegExp(`test_example_gateway_${name} PASSED`));
    }
  }, 300_000);
});

describe("the Livepeer Python gateway SDK (test/interop-livepeer-gateway)", () => {
  test.skipIf(!python312)("pytest: livepeer-gateway 1.0.0 gets orchestrator info, pays the dev orchestrator (482 = a skipped cycle), refreshes on 480, signs a BYOC job the orchestrator verifies and pays its capability", async () => {
    const dir = join(root, "test/interop-livepeer-gateway");
    const python = join(root, ".tools/venv-lpgw/bin/python");
    const stamp = join(root, ".tools", `installed-lpgw-${createHash("sha256").update(readFileSync(join(dir, "requirements.txt"))).digest("hex").slice(0, 16)}`);
    if (!existsSync(stamp)) {
      // Its own venv (Python 3.12+), with the pinned SDK and pytest from PyPI.
      for (const [cmd, args] of [
        [python312!, ["-m", "venv", join(root, ".tools/venv-lpgw")]],
        [python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", join(dir, "requirements.txt")]],
      ] as const) {
        const r = await run(cmd, [...args], root);
        expect(r.code, r.output).toBe(0);
      }
      writeFileSync(stamp, "");
    }
    const r = await run(python, ["-m", "pytest", "-v", "-p", "no:cacheprovider"], dir);
    expect(r.code, r.output).toBe(0);
    for (const name of [
      "gets_orchestrator_info_with_the_signers_signature",
      "payment_session_pays_the_orchestrator",
      "refreshes_on_480",
      // BYOC (go-livepeer branch feat/byoc-per-cap-pricing-and-usage-labels at ae1a0ea7a).
      "signs_a_byoc_job_through_the_signer",
      "submits_a_signed_paid_byoc_job",
      "pays_a_byoc_capability_with_type_byoc",
    ]) {
      expect(r.output).toMatch(new RegExp(`test_sdk_${name} PASSED`));
    }
  }, 400_000);
});

// docs/clients.md as a gateway author follows it: the URLs from the banner's export line, the Go
// program built outside the repository, the Python package installed into a fresh venv.
describe.skipIf(!hasGo && !hasPython)("clients by name (docs/clients.md)", () => {
  const docs = readFileSync(join(root, "docs/clients.md"), "utf8");
  /** The docs' fenced block in `lang` that contains `marker`. */
  const snippet = (lang: string, marker: string) => {
    const found = [...docs.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!).filter((c) => c.includes(marker));
    expect(found, `docs/clients.md: one \`\`\`${lang} block with ${marker}`).toHaveLength(1);
    return found[0]!;
  };
  let child: ChildProcess;
  let urls: Record<string, string> = {}; // from the banner's `export LPSIGNER_URL=… LPSIGNER_ORCH_URL=…`
  let tmp: string;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "lpsigner-clients-by-name-"));
    // Its own process group: npx does not pass SIGTERM on to tsx, so the group is what gets stopped.
    child = spawn("npx", ["tsx", "src/main.ts", "-httpAddr", "127.0.0.1:0", "-logLevel", "warn"], { cwd: root, stdio: ["ignore", "pipe", "inherit"], detached: true });
    let banner = "";
    child.stdout!.on("data", (chunk: Buffer) => (banner += chunk.toString()));
    const started = Date.now();
    while (!/\n\s+try:/.test(banner)) {
      if (child.exitCode !== null || Date.now() - started > 90_000) throw new Error(`the signer did not come up:\n${banner}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const line = /^\s*export (.+)$/m.exec(banner)?.[1] ?? "";
    urls = Object.fromEntries(line.split(" ").map((kv) => kv.split("=") as [string, string]));
    expect(Object.keys(urls), banner).toEqual(["LPSIGNER_URL", "LPSIGNER_ORCH_URL"]);
  }, 120_000);
  afterAll(async () => {
    if (child?.pid !== undefined && child.exitCode === null) {
      process.kill(-child.pid, "SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, 20_000);

  test.skipIf(!hasGo)("Go: the module accepts Go 1.22; the README's program builds outside the repository with require + replace and pays the dev orchestrator", async () => {
    const mod = join(root, "clients/go");
    expect(readFileSync(join(mod, "go.mod"), "utf8")).toMatch(/^go 1\.22$/m);
    // Every module in the build list accepts Go 1.22 (a newer one would raise the gateway's go line).
    const list = await run("go", ["list", "-m", "-f", "{{.Path}} {{.GoVersion}}", "all"], mod);
    expect(list.code, list.output).toBe(0);
    const newer = list.output.trim().split("\n").filter((l) => {
      const [major = 0, minor = 0] = (l.split(" ")[1] ?? "").split(".").map(Number);
      return major > 1 || (major === 1 && minor > 22);
    });
    expect(newer).toEqual([]);

    const main = snippet("go", "package main");
    expect(main, "docs/clients.md's main.go is clients/go/cmd/example/main.go").toBe(readFileSync(join(mod, "cmd/example/main.go"), "utf8"));
    const dir = join(tmp, "mygateway");
    mkdirSync(dir);
    writeFileSync(join(dir, "main.go"), main);
    const steps = await run("bash", ["-euo", "pipefail", "-c", snippet("sh", "go mod init")], dir, { ...urls, LPSIGNER_REPO: root });
    expect(steps.code, steps.output).toBe(0);
    expect(steps.output).toMatch(/paid for 3 cycles; last state \{.*"SequenceNumber":2/);
  }, 300_000);

  test.skipIf(!hasPython)("Python: pip install of clients/python, python -m lpsigner_client.example --help, the example module and the docs' gateway.py pay the dev orchestrator", async () => {
    // A copy of the package: pip builds in the source tree (build/, *.egg-info), never under clients/.
    const checkout = join(tmp, "checkout");
    cpSync(join(root, "clients/python"), join(checkout, "clients/python"), {
      recursive: true,
      filter: (src) => !/(__pycache__|\.egg-info|[/\\]build|[/\\]dist)$/.test(src),
    });
    const venv = join(tmp, "venv");
    const made = await run("python3", ["-m", "venv", venv], tmp);
    expect(made.code, made.output).toBe(0);
    const env = { ...urls, LPSIGNER_REPO: checkout, VIRTUAL_ENV: venv, PATH: `${join(venv, "bin")}:${process.env.PATH}`, PIP_DISABLE_PIP_VERSION_CHECK: "1" };
    const steps = await run("bash", ["-euo", "pipefail", "-c", snippet("sh", "pip install \"$LPSIGNER_REPO")], tmp, env);
    expect(steps.code, steps.output).toBe(0);
    expect(steps.output).toContain("usage: python -m lpsigner_client.example");
    expect(steps.output).toMatch(/paid for 3 cycles; last state \{.*"SequenceNumber":2/);

    writeFileSync(join(tmp, "gateway.py"), snippet("python", "from lpsigner_client import run"));
    const gateway = await run(join(venv, "bin/python"), ["gateway.py"], tmp, env);
    expect(gateway.code, gateway.output).toBe(0);
    expect(gateway.output).toMatch(/last state \{.*"SequenceNumber":2/);
  }, 300_000);
});
