#!/usr/bin/env -S node --no-memory-reducer
// The lpsigner binary: the compiled signer (`npm run build` → dist/), nothing compiled at start-up.
// V8's memory reducer is off as under `npm start` (src/cluster/v8-flags.ts says why); -workers
// forks this same file, with the workers' flags added to these.
import { existsSync } from "node:fs";

const main = new URL("../dist/src/main.js", import.meta.url);
if (!existsSync(main)) {
  console.error("lpsigner: not built: run npm run build (dist/src/main.js is missing)");
  process.exit(1);
}
await import(main.href);
