/**
 * The Go and Python clients (clients/go, clients/python) run their own tests: the example
 * gateway loops against a live development signer (`npx tsx src/main.ts`), and the Go interop
 * test. A test here is skipped only when its toolchain is missing, and says so; a failing
 * `go test` or `pytest` fails `npm test`.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
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

describe("Go client (clients/go)", () => {
  test.skipIf(!hasGo)("go test: the example gateway loop pays for 5 cycles against a live signer", async () => {
    const r = await run("go", ["test", "-count=1", "-v", "./..."], join(root, "clients/go"));
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/--- PASS: TestExampleGatewayLoopAgainstLiveSigner/);
  }, 300_000);
});

describe("Python client (clients/python)", () => {
  test.skipIf(!hasPython)("pytest: the example gateway loop pays for 5 cycles against a live signer", async () => {
    const python = join(root, ".tools/venv/bin/python");
    if (!existsSync(python) || (await run(python, ["-c", "import lpsigner_client, connectrpc, pytest"], root)).code !== 0) {
      // A clean clone: install the pinned runtime and pytest (PyPI) into .tools/venv.
      const setup = await run("bash", ["scripts/clients-tools.sh", "python"], root);
      expect(setup.code, setup.output).toBe(0);
    }
    const r = await run(python, ["-m", "pytest", "-v", "-p", "no:cacheprovider"], join(root, "clients/python"));
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/test_example_gateway_loop_against_live_signer PASSED/);
  }, 300_000);
});
