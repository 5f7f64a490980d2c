/**
 * `npm run build` (dist/ from tsconfig.build.json), for the vitest global setup and the load bench.
 * Tests that run `npm start` (which builds, then runs bin/lpsigner.js) then find dist/ up to date
 * and emit nothing, so two of them starting at once never import a file another build is rewriting.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export function buildDist(): void {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
}

/** Vitest global setup: dist/ built once before any test file runs. */
export default buildDist;
