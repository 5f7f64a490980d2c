/**
 * The Go and Python clients (clients/go, clients/python) run their own tests: the example
 * gateway loops against a live development signer (`npx tsx src/main.ts`), and the Go interop
 * test (test/interop-go: go-livepeer's rules with go-ethereum). A test here is skipped only
 * when its toolchain is missing, and says so; a failing `go test` or `pytest` fails `npm test`.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, test } from "vitest";

const root = join(import.meta.dirname, "..");
const has = (cmd: string) => spawnSync(cmd, ["--version"], { stdio: "ignore" }).status === 0 || spawnSync(cmd, ["version"], { stdio: "ignore" }).status === 0;
const hasGo = has("go");
const hasPython = has("python3");
if (!hasGo) console.warn("SKIPPED: the Go client tests need `go` (1.26) on PATH");
if (!hasPython) console.warn("SKIPPED: the Python client tests need `python3` (3.11+) on PATH");

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
