/**
 * The Go and Python clients (clients/go, clients/python) run their own tests: the example
 * gateway loops against a live development signer (`npx tsx src/main.ts`), and the Go interop
 * test (test/interop-go: go-livepeer's rules with go-ethereum). A test here is skipped only
 * when its toolchain is missing, and says so; a failing `go test` or `pytest` fails `npm test`.
 */
import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, test } from "vitest";

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
if (!hasGo) console.warn("SKIPPED: the Go client tests need `go` (1.26) on PATH");
if (!hasPython) console.warn("SKIPPED: the Python client tests need `python3` (3.11+) on PATH");
if (!python312) console.warn("SKIPPED: the Livepeer gateway SDK test needs Python 3.12+ (python3.12 on PATH or installed by pyenv)");

/** Runs a command to completion; resolves with its exit code and combined output. */
function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, maxBuffer: 64 << 20, env: { ...process.env, GOFLAGS: "-count=1" } }, (err, stdout, stderr) => {
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
  test.skipIf(!python312)("pytest: livepeer-gateway 1.0.0 gets orchestrator info, pays the dev orchestrator (482 = a skipped cycle), refreshes on 480", async () => {
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
    for (const name of ["gets_orchestrator_info_with_the_signers_signature", "payment_session_pays_the_orchestrator", "refreshes_on_480"]) {
      expect(r.output).toMatch(new RegExp(`test_sdk_${name} PASSED`));
    }
  }, 400_000);
});
