import { pino } from "pino";
import { ConfigError, parseFlags, usage } from "./config.js";
import { startSigner } from "./start-signer.js";

async function main(): Promise<void> {
  let flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    console.error(`lpsigner: ${(err as Error).message}\n\n${usage()}`);
    process.exit(2);
  }
  if (!flags) {
    console.log(usage());
    return;
  }
  const logger = pino({ level: flags.logLevel });
  let signer;
  try {
    signer = await startSigner(flags, logger);
  } catch (err) {
    if (err instanceof ConfigError || (err as Error).name.endsWith("ConfigError")) {
      console.error(`lpsigner: ${(err as Error).message}`);
      process.exit(2);
    }
    throw err;
  }
  const lines = [
    `lpsigner ${signer.devChain ? "on a DEVELOPMENT CHAIN (local, throwaway, not a real network)" : "started"}`,
    `  signer address: ${signer.address}`,
    `  serving:        ${signer.url} (gRPC, gRPC-web, Connect and go-livepeer HTTP/JSON)`,
    ...(signer.devChain ? [`  dev chain:      ${signer.devChain.url} (controller ${signer.devChain.controllerAddress})`] : []),
    `  try:            npx buf curl --schema proto --http2-prior-knowledge --protocol grpc ${signer.url}/livepeer.signer.v1.SignerService/GetSignerStatus`,
    `  or:             curl -X POST ${signer.url}/sign-orchestrator-info`,
  ];
  console.log(lines.join("\n"));
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

main().catch((err) => {
  console.error("lpsigner: failed to start:", err);
  process.exit(1);
});
