/**
 * Startup failures that are not configuration mistakes (port in use, chain unreachable): main
 * prints their message as one line, without a stack.
 */
import { createServer } from "node:net";

export class StartupError extends Error {
  override name = "StartupError";
}

function listenProblem(err: unknown, host: string, port: number): StartupError {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${host.includes(":") ? `[${host}]` : host || "*"}:${port}`;
  const reason =
    code === "EADDRINUSE" ? "the address is already in use" :
    code === "EACCES" ? "permission denied" :
    code === "EADDRNOTAVAIL" ? "no such local address" :
    (err as Error).message;
  return new StartupError(`cannot listen on ${where} (-httpAddr): ${reason}`);
}

/** Fails early (before a dev chain is started) when host:port cannot be bound; port 0 always can. */
export async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", (err) => reject(listenProblem(err, host, port)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** A listen error from the real server, as one clear line. */
export function toListenError(err: unknown, host: string, port: number): Error {
  return typeof (err as NodeJS.ErrnoException)?.code === "string" ? listenProblem(err, host, port) : (err as Error);
}
