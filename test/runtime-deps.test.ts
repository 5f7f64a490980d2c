/**
 * Against a real chain nothing loads the dev chain, EDR or solc: only src/dev-chain/ imports EDR,
 * everything else reaches dev-chain/ by type or by a dynamic import, solc is dev-only and EDR is
 * an optional dependency (installed by a plain `npm install`, so the dev chain works out of the box).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { expect, test } from "vitest";

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
