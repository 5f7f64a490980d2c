/**
 * Against a real chain nothing loads the dev chain, EDR or solc: only src/dev-chain/ imports EDR,
 * everything else reaches dev-chain/ by type or by a dynamic import, solc is dev-only and EDR is
 * an optional dependency (installed by a plain `npm install`, so the dev chain works out of the box).
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, test } from "vitest";
import { startDevChain } from "../src/dev-chain/dev-chain.js";

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") && !path.endsWith(".test.ts") ? [path] : [];
  });
}

test("outside src/dev-chain/, no static value import of the dev chain, EDR or solc", () => {
  const offenders: string[] = [];
  for (const file of sources("src")) {
    if (relative("src", file).startsWith("dev-chain")) continue;
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+"([^"]+)"/gms)) {
      const [, typeOnly, spec] = m;
      if (typeOnly) continue;
      if (/dev-chain\/|@nomicfoundation\/edr|^solc$/.test(spec!)) offenders.push(`${file}: ${spec}`);
    }
  }
  expect(offenders).toEqual([]);
  // The dev chain is reached by a dynamic import only when there is no -ethUrl.
  expect(readFileSync("src/start-signer.ts", "utf8")).toMatch(/await import\("\.\/dev-chain\/dev-chain\.js"\)/);
});

test("package.json: solc is a devDependency, EDR an optionalDependency", () => {
  const pkg = JSON.parse(readFileSync("package.json", "utf8")) as Record<string, Record<string, string> | undefined>;
  expect(pkg.dependencies?.solc).toBeUndefined();
  expect(pkg.devDependencies?.solc).toBeDefined();
  expect(pkg.dependencies?.["@nomicfoundation/edr"]).toBeUndefined();
  expect(pkg.optionalDependencies?.["@nomicfoundation/edr"]).toBeDefined();
});

describe("with EDR and solc not installed (hidden by a loader hook)", () => {
  /** Runs src/main.ts with the dev-only packages unresolvable; stops it once it has printed its banner. */
  function runWithoutDevDeps(args: string[], env: NodeJS.ProcessEnv = {}) {
    return new Promise<{ code: number | null; stdout: string; stderr: string; answer?: number }>((resolve, reject) => {
      let answer: number | undefined;
      const child = spawn(process.execPath, ["--import", "tsx", "--import", "./test/support/hide-dev-deps.mjs", "src/main.ts", ...args], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => {
        stdout += d;
        const url = /serving: +(http:\/\/\S+)/.exec(stdout)?.[1];
        if (url && answer === undefined) {
          answer = 0;
          // One real request before stopping it.
          void fetch(`${url}/sign-orchestrator-info`, { method: "POST" })
            .then((res) => (answer = res.status))
            .finally(() => child.kill("SIGTERM"));
        }
      });
      child.stderr.on("data", (d) => (stderr += d));
      const timer = setTimeout(() => child.kill("SIGKILL"), 45_000);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr, answer });
      });
    });
  }

  test("against a real chain (-ethUrl) the signer starts and serves", async () => {
    const chain = await startDevChain({ port: 0 });
    try {
      const out = await runWithoutDevDeps(
        ["-ethUrl", chain.url, "-ethController", chain.controllerAddress, "-httpAddr", "127.0.0.1:0"],
        { LPSIGNER_UNSAFE_DEV_PRIVATE_KEY: "0x" + "66".repeat(32) },
      );
      expect(out.stderr).toBe("");
      expect(out.stdout).toContain("lpsigner started");
      expect(out.answer).toBe(200);
      expect(out.code).toBe(0); // SIGTERM: a clean shutdown
    } finally {
      await chain.close();
    }
  });

  test("without -ethUrl: one line saying the dev chain needs the optional package", async () => {
    const out = await runWithoutDevDeps(["-httpAddr", "127.0.0.1:0"]);
    expect(out.stderr).toBe(
      "lpsigner: failed to start: the development chain needs the optional dependency @nomicfoundation/edr, which is not installed " +
        "(run npm install on a supported platform), or pass -ethUrl to use a real chain\n",
    );
    expect(out.code).toBe(1);
  });
});
