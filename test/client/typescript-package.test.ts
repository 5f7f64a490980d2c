/**
 * @lpsigner/client as a gateway author gets it (docs/clients.md): `npm pack` of clients/typescript
 * from a checkout, the tarball installed into an empty project (it brings only @bufbuild/protobuf
 * and @connectrpc/*), and the docs' TypeScript snippet compiled there against the installed types
 * and run with the banner's two environment variables against a live signer and its development
 * orchestrator, which accepts the payment.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { parseFlags } from "../../src/config.js";
import { startSigner, type RunningSigner } from "../../src/start-signer.js";

const exec = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));
const docs = readFileSync(join(root, "docs/clients.md"), "utf8");

/** The docs' fenced block in `lang` that contains `marker`. */
function snippet(lang: string, marker: string): string {
  const found = [...docs.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!).filter((c) => c.includes(marker));
  expect(found, `docs/clients.md: one \`\`\`${lang} block with ${marker}`).toHaveLength(1);
  return found[0]!;
}

let signer: RunningSigner;
let tmp: string;
let app: string;

beforeAll(async () => {
  signer = await startSigner(parseFlags(["-httpAddr", "127.0.0.1:0"])!, pino({ level: "silent" }));
  tmp = mkdtempSync(join(tmpdir(), "lpsigner-ts-package-"));
  app = join(tmp, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "gateway", private: true, type: "module" }));
}, 120_000);
afterAll(async () => {
  await signer?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test("npm pack + npm install as docs/clients.md says: a tarball of dist/ alone, installed with its four dependencies", async () => {
  // A copy of what the package builds from, so `npm pack` (its prepack build) writes nothing under clients/.
  const checkout = join(tmp, "checkout");
  for (const path of ["package.json", "tsconfig.json", "src/client", "gen", "clients/typescript/package.json", "clients/typescript/tsconfig.json", "clients/typescript/README.md"]) {
    cpSync(join(root, path), join(checkout, path), { recursive: true });
  }
  symlinkSync(join(root, "node_modules"), join(checkout, "node_modules"));
  const steps = snippet("sh", "npm pack");
  await exec("bash", ["-euo", "pipefail", "-c", steps], {
    cwd: app,
    env: { ...process.env, LPSIGNER_REPO: checkout, npm_config_prefer_offline: "true", npm_config_audit: "false", npm_config_fund: "false" },
  });

  const { stdout: listing } = await exec("tar", ["-tzf", join(app, "lpsigner-client-0.1.0.tgz")]);
  const files = listing.trim().split("\n");
  expect(files.filter((f) => !/^package\/(dist\/.+|package\.json|README\.md)$/.test(f))).toEqual([]);
  expect(files).toContain("package/dist/src/client/node.js");
  expect(files).toContain("package/dist/gen/livepeer/signer/v1/signer_pb.js");
  expect(files.filter((f) => /\.test\.|\/server\/|dev-chain|\.ts$/.test(f) && !f.endsWith(".d.ts"))).toEqual([]);

  // No ethers, EDR, pino or server code: the lock file lists every installed package.
  const lock = JSON.parse(readFileSync(join(app, "package-lock.json"), "utf8")) as { packages: Record<string, unknown> };
  expect(Object.keys(lock.packages).filter(Boolean).sort()).toEqual(
    ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-node", "@connectrpc/connect-web", "@lpsigner/client"].map((p) => `node_modules/${p}`),
  );
  const { stdout } = await exec("node", ["--input-type=module", "-e", `const u = await import("@lpsigner/client"); const n = await import("@lpsigner/client/node"); console.log(typeof u.createSignerClient, typeof u.PaymentSession, typeof n.getOrchestratorInfo)`], { cwd: app });
  expect(stdout.trim()).toBe("function function function");
}, 180_000);

test("the docs' TypeScript snippet compiles against the installed package and pays the dev orchestrator", async () => {
  writeFileSync(join(app, "gateway.ts"), snippet("ts", "@lpsigner/client/node"));
  // Types from the installed package only; @types/node from the repository (the project has none).
  writeFileSync(
    join(app, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, skipLibCheck: true, types: ["node"], typeRoots: [join(root, "node_modules/@types")] },
      files: ["gateway.ts"],
    }),
  );
  const tsc = await exec("node", [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: app }).catch((err: { stdout: string }) => err);
  expect("stdout" in tsc ? tsc.stdout : "").toBe("");

  const orch = signer.devOrchestrators[0]!;
  const before = orch.stats().accepted;
  const env = { ...process.env, LPSIGNER_URL: signer.url, LPSIGNER_ORCH_URL: orch.url };
  const { stdout } = await exec("node", ["gateway.js"], { cwd: app, env });
  expect(stdout).toMatch(/^\d+ tickets: accepted$/m);
  expect(orch.stats().accepted).toBe(before + 1);
  // And it takes the URLs from the environment only: without them it stops before any call.
  const bare = { ...process.env };
  delete bare.LPSIGNER_URL;
  delete bare.LPSIGNER_ORCH_URL;
  const failed = await exec("node", ["gateway.js"], { cwd: app, env: bare }).then(() => undefined, (err: { stderr: string }) => err.stderr);
  expect(failed).toMatch(/set LPSIGNER_URL and LPSIGNER_ORCH_URL/);
}, 120_000);
