#!/usr/bin/env -S node --single-threaded-gc --no-memory-reducer --max-semi-space-size=4 --heap-growing-percent=20
// The lpsigner binary: the compiled signer (`npm run build` → dist/), nothing compiled at start-up.
// The V8 flags are the signer's (src/cluster/v8-flags.ts says why), as under `npm start`; -workers
// forks this same file with the same flags.
import { existsSync } from "node:fs";

const main = new URL("../dist/src/main.js", import.meta.url);
if (!existsSync(main)) {
  console.error("lpsigner: not built: run npm run build (dist/src/main.js is missing)");
  process.exit(1);
}
await import(main.href);
