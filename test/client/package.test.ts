/**
 * The client as a package: `npm run build:client` output resolved through package.json exports by
 * Node and by TypeScript (the README's TypeScript snippets are type-checked against it), and the
 * universal entry's import graph holds no Node-only module.
 */
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, test } from "vitest";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));

beforeAll(async () => {
  await run("npx", ["tsc", "-p", "tsconfig.client.json"], { cwd: root });
}, 120_000);

describe("lpsigner/client as a package", () => {
  test("Node resolves both entries through exports", async () => {
    const script = `
      const u = await import("lpsigner/client");
      const n = await import("lpsigner/client/node");
      console.log(JSON.stringify({
        universal: [typeof u.createSignerClient, typeof u.PaymentSession, typeof u.sendPayment, typeof u.JobType],
        node: [typeof n.createSignerClient, typeof n.getOrchestratorInfo, typeof n.sendPayment, typeof n.PaymentSession],
        sameSession: u.PaymentSession === n.PaymentSession,
      }));`;
    const { stdout } = await run("node", ["--input-type=module", "-e", script], { cwd: root });
    expect(JSON.parse(stdout)).toEqual({
      universal: ["function", "function", "function", "object"],
      node: ["function", "function", "function", "function"],
      sameSession: true,
    });
  });

  test("the universal entry imports no Node module (browsers can load it)", () => {
    const allowed = [/^@bufbuild\/protobuf(\/|$)/, /^@connectrpc\/connect$/, /^@connectrpc\/connect-web$/];
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)) {
        const spec = (m[1] ?? m[2])!;
        if (spec.startsWith(".")) visit(resolve(dirname(file), spec));
        else bare.add(spec);
      }
    };
    visit(join(root, "dist/client/src/client/index.js"));
    expect(seen.size).toBeGreaterThan(3);
    const nodeOnly = [...bare].filter((s) => s.startsWith("node:") || builtinModules.includes(s) || !allowed.some((a) => a.test(s)));
    expect(nodeOnly).toEqual([]);
    // …while the Node entry does use Node modules (so the check can fail).
    const nodeEntry = readFileSync(join(root, "dist/client/src/client/node.js"), "utf8");
    expect(nodeEntry).toMatch(/from "node:https"/);
  });

  test("the README's TypeScript snippets compile against the package's types", async () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(snippets.length).toBeGreaterThan(0);
    const dir = join(root, ".tmp/readme-snippets");
    mkdirSync(dir, { recursive: true });
    const files = snippets.map((code, i) => {
      const file = join(dir, `snippet-${i}.ts`);
      writeFileSync(file, `${code}\nexport {};\n`);
      return file;
    });
    // "lpsigner/client/node" resolves as a user's would, through exports to dist/; the published
    // name (@lpsigner/client, the same code: test/client/typescript-package.test.ts) maps to the same build.
    const built = (entry: string) => [join(root, `dist/client/src/client/${entry}.d.ts`)];
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: true, types: ["node"],
          paths: { "@lpsigner/client": built("index"), "@lpsigner/client/node": built("node") },
        },
        files: files.map((f) => f.slice(dir.length + 1)),
      }),
    );
    const result = await run("npx", ["tsc", "-p", join(dir, "tsconfig.json")], { cwd: root }).catch((err: { stdout: string }) => err);
    expect("stdout" in result ? result.stdout : "").toBe("");
  });
});
