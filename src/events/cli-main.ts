// `npm run events -- [flags]` and `lpsigner events [flags]` (bin/lpsigner.js and src/main.ts come here).
import { ConfigError } from "../config/errors.js";
import { runEventsCli } from "./cli.js";

const args = process.argv.slice(2);
if (args[0] === "events") args.shift();
runEventsCli(args).catch((err: unknown) => {
  console.error(`lpsigner events: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
