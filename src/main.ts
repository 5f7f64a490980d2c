import cluster from "node:cluster";
import { pino } from "pino";
import { startCluster } from "./cluster/primary.js";
import { runWorker } from "./cluster/worker.js";
import { ConfigError, loadConfig, parseFlags, usage, type Config } from "./config.js";
import { StartupError } from "./startup.js";
import { startSigner, type RunningSigner } from "./start-signer.js";

/** Startup failures are one line on stderr: exit 2 for a configuration mistake, 1 otherwise. */
function fail(err: unknown, debug: boolean): never {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ConfigError) {
    console.error(`lpsigner: ${message}`);
    process.exit(2);
  }
  const expected = err instanceof StartupError;
  console.error(`lpsigner: failed to start: ${message}`);
  if (!expected && debug && err instanceof Error && err.stack) console.error(err.stack);
  process.exit(1);
}

function banner(signer: RunningSigner): string {
  const lines = [
    `lpsigner ${signer.devChain ? "on a DEVELOPMENT CHAIN (local, throwaway, not a real network)" : "started"}`,
    `  signer address: ${signer.address}`,
    `  serving:        ${signer.url} (gRPC, gRPC-web, Connect and go-livepeer HTTP/JSON)`,
    ...(signer.devChain
      ? [
          `  dev chain:      ${signer.devChain.url} (controller ${signer.devChain.controllerAddress})`,
          `  price feed:     ${signer.devChain.priceFeed.address} (development ETH / USD, used for USD ceilings without -priceFeedAddr)`,
        ]
      : []),
    ...signer.devOrchestrators.map(
      (o, n) => `  orchestrator:   ${o.url} (development, ${n + 1} wei per unit; registered on the dev chain, discovery on)`,
    ),
    ...(signer.devOrchestrators.length > 0 ? [`  gateway:        npx tsx examples/gateway.ts ${signer.url}`] : []),
    // Ready to paste: the client snippets (docs/clients.md) read these, never a guessed port.
    `  export LPSIGNER_URL=${signer.url}${signer.devOrchestrators[0] ? ` LPSIGNER_ORCH_URL=${signer.devOrchestrators[0].url}` : ""}`,
    `  try:            npx buf curl --http2-prior-knowledge ${signer.url}/livepeer.signer.v1.SignerService/GetSignerStatus`,
    `  or:             curl -X POST ${signer.url}/sign-orchestrator-info`,
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  if (cluster.isWorker) return runWorker();
  // `lpsigner events`: print the outbox's events (src/events/cli.ts), no signer started.
  if (process.argv[2] === "events") {
    await import("./events/cli-main.js");
    return;
  }
  let config: Config;
  try {
    const flags = parseFlags(process.argv.slice(2));
    if (!flags) {
      console.log(usage());
      return;
    }
    config = loadConfig(flags);
  } catch (err) {
    if (err instanceof ConfigError && /unknown flag|unexpected argument|needs a value/.test(err.message)) {
      console.error(`lpsigner: ${err.message}\n\n${usage()}`);
      process.exit(2);
    }
    fail(err, false);
  }
  const logger = pino({ level: config.logLevel });
  const debug = logger.isLevelEnabled("debug");
  let signer: RunningSigner;
  try {
    signer = config.workers > 1 ? await startCluster(config, logger) : await startSigner(config, logger);
  } catch (err) {
    fail(err, debug);
  }
  console.log(banner(signer));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: draining in-flight requests");
    signer.close().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

main().catch((err) => fail(err, true));
