/**
 * `lpsigner events` / `npm run events -- [flags]`: the outbox's events as NDJSON, one envelope
 * (go-livepeer's GatewayEvent JSON, exactly as stored) per line, oldest first. With Kafka the
 * outbox holds the undelivered ones only; without it, those within the retention.
 *
 *   --since T    RFC 3339 time, Unix milliseconds, or a duration back from now (90s, 1h)
 *   --follow     keep printing new events as they are written (Ctrl-C ends)
 *   -eventsDb / -dataDir / -network   find the file as the signer does
 */
import { existsSync } from "node:fs";
import { ConfigError } from "../config/errors.js";
import { parseFlags } from "../config/flags.js";
import { loadEventsPath } from "../config/load-config.js";
import { parseDuration } from "../config/values.js";
import { openOutbox, type Outbox } from "./outbox.js";

const PAGE = 1000;
const FOLLOW_POLL_MS = 250;

const SINCE_FORMS = "an RFC 3339 time, Unix milliseconds or a duration back from now (90s, 1h)";

/** --since's forms; undefined means from the beginning. */
export function parseSince(text: string | undefined, nowMs = Date.now()): number {
  if (text === undefined) return 0;
  if (/^\d{10,}$/.test(text)) return Number(text);
  if (/^\d{4}-\d\d-\d\dT/.test(text)) {
    const t = Date.parse(text);
    if (Number.isFinite(t)) return t;
    throw new ConfigError(`--since: ${JSON.stringify(text)} is not a valid RFC 3339 time`);
  }
  try {
    return nowMs - parseDuration(text, "since");
  } catch {
    throw new ConfigError(`--since: ${JSON.stringify(text)} is not ${SINCE_FORMS}`);
  }
}

export async function runEventsCli(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<void> {
  let since: string | undefined;
  let follow = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--follow" || a === "-follow") follow = true;
    else if (a === "--since" || a === "-since") {
      if (i + 1 >= argv.length) throw new ConfigError(`--since needs a value: ${SINCE_FORMS}`);
      since = argv[++i];
    }
    else if (a.startsWith("--since=") || a.startsWith("-since=")) since = a.slice(a.indexOf("=") + 1);
    else rest.push(a);
  }
  const flags = parseFlags(rest);
  if (!flags) return;
  const path = loadEventsPath(flags);
  if (!existsSync(path)) throw new ConfigError(`no event outbox at ${path} (set -eventsDb or -dataDir as the signer has it)`);
  const sinceMs = parseSince(since);
  // Only read; the quotas matter to writers only.
  let outbox: Outbox;
  try {
    outbox = openOutbox({ path, maxBytes: Number.MAX_SAFE_INTEGER, maxCount: Number.MAX_SAFE_INTEGER, readOnly: true });
  } catch (err) {
    throw new ConfigError(`cannot read the event outbox ${path}: ${(err as Error).message}`);
  }
  let after = 0;
  // A reader that goes away (`lpsigner events | head`) ends the listing quietly, as it ends a Unix
  // filter's; any other write error is the command's.
  let outError: NodeJS.ErrnoException | undefined;
  const outGone = new Promise<void>((res) =>
    out.on("error", (err: NodeJS.ErrnoException) => {
      outError ??= err;
      res();
    }),
  );
  const drain = async () => {
    for (;;) {
      const rows = outbox.since(sinceMs, after, PAGE);
      for (const r of rows) {
        if (!out.write(Buffer.concat([Buffer.from(r.value), Buffer.from("\n")]))) await Promise.race([new Promise((res) => out.once("drain", res)), outGone]);
        if (outError) return;
        after = r.seq;
      }
      if (rows.length < PAGE) return;
    }
  };
  try {
    await drain();
    if (follow) {
      let stop = false;
      const end = () => (stop = true);
      process.once("SIGINT", end);
      process.once("SIGTERM", end);
      while (!stop && !outError) {
        await Promise.race([new Promise((res) => setTimeout(res, FOLLOW_POLL_MS)), outGone]);
        await drain();
      }
    }
  } finally {
    outbox.close();
  }
  if (outError && outError.code !== "EPIPE") throw outError;
}
