import http from "node:http";
import https from "node:https";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Orchestrator, type OrchestratorInfo, type OrchestratorRequest } from "../../gen/net/lp_rpc_pb.js";
import { parseRunnerDiscovery, type RunnerDiscoveryEntry } from "./live-runner.js";

/** The reference's bound on one polling round (discovery/discovery.go getOrchestratorTimeoutLoop). */
export const DEFAULT_POLL_TIMEOUT_MS = 3_000;
/** The reference's timeout for an orchestrator's `/discovery` call (discovery/db_discovery.go). */
export const RUNNER_DISCOVERY_TIMEOUT_MS = 2_000;
/** The reference's size bound for a `/discovery` reply (1 MiB). */
export const RUNNER_DISCOVERY_MAX_BYTES = 1 << 20;

export class OrchestratorPollError extends Error {
  override name = "OrchestratorPollError";
  constructor(
    readonly url: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`orchestrator ${url}: ${message}`, options);
  }
}

/**
 * The reference's parseURI for a polled orchestrator: "https://" is prepended when the text does
 * not start with "http"; returns undefined when there is no host to dial.
 */
export function orchestratorUrl(address: string): URL | undefined {
  const text = address.startsWith("http") ? address : `https://${address}`;
  try {
    const url = new URL(text);
    if ((url.protocol !== "https:" && url.protocol !== "http:") || url.host === "") return undefined;
    return url;
  } catch {
    return undefined;
  }
}

export interface PollOrchestratorParameters {
  url: URL;
  request: OrchestratorRequest;
  timeoutMs: number;
  /** Also fetch `GET <url>/discovery` (runner discovery), as the reference's remote signer does. */
  runnerDiscovery?: boolean;
}

export interface PollOrchestratorResult {
  info: OrchestratorInfo;
  discovery: RunnerDiscoveryEntry[] | undefined;
}

/**
 * Calls net.Orchestrator/GetOrchestrator on one orchestrator (gRPC over TLS without certificate
 * verification, or plaintext for http:// URLs, as the reference dials) and, in parallel, its
 * `/discovery` endpoint. Everything is bounded by `timeoutMs`; nothing outlives the call.
 */
export async function pollOrchestrator({ url, request, timeoutMs, runnerDiscovery = true }: PollOrchestratorParameters): Promise<PollOrchestratorResult> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const discovery = runnerDiscovery
    ? fetchRunnerDiscovery(url, Math.min(timeoutMs, RUNNER_DISCOVERY_TIMEOUT_MS)).catch(() => undefined)
    : Promise.resolve(undefined);

  const baseUrl = `${url.protocol}//${url.host}`;
  const sessionManager = new Http2SessionManager(baseUrl, undefined, { rejectUnauthorized: false });
  try {
    const transport = createGrpcTransport({ baseUrl, sessionManager });
    const client = createClient(Orchestrator, transport);
    let info: OrchestratorInfo;
    try {
      info = await client.getOrchestrator(request, { signal: deadline, timeoutMs });
    } catch (err) {
      throw new OrchestratorPollError(url.href, `GetOrchestrator failed: ${(err as Error).message}`, { cause: err });
    }
    if (info.address.length === 0) throw new OrchestratorPollError(url.href, "missing ETH address");
    const price = info.priceInfo;
    if (!price) throw new OrchestratorPollError(url.href, "missing price info");
    if (price.pixelsPerUnit === 0n) throw new OrchestratorPollError(url.href, "invalid price info: pixels per unit is 0");
    const runners = await Promise.race([
      discovery,
      new Promise<undefined>((resolve) => {
        if (deadline.aborted) resolve(undefined);
        deadline.addEventListener("abort", () => resolve(undefined), { once: true });
      }),
    ]);
    return { info, discovery: runners };
  } finally {
    sessionManager.abort();
  }
}

/**
 * GET <orchestrator>/discovery: the runners the orchestrator advertises. Undefined when the reply
 * is not 2xx, larger than 1 MiB, or not the expected JSON.
 */
export function fetchRunnerDiscovery(orchestrator: URL, timeoutMs: number): Promise<RunnerDiscoveryEntry[] | undefined> {
  const target = new URL(orchestrator.href);
  target.pathname = `${target.pathname.replace(/\/+$/, "")}/discovery`;
  target.search = "";
  target.hash = "";
  const get = target.protocol === "https:" ? https.get : http.get;
  return new Promise((resolve, reject) => {
    const req = get(target, { rejectUnauthorized: false, signal: AbortSignal.timeout(timeoutMs), agent: false }, (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        res.resume();
        reject(new Error(`discovery returned status ${status}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > RUNNER_DISCOVERY_MAX_BYTES) {
          req.destroy(new Error(`discovery reply exceeds ${RUNNER_DISCOVERY_MAX_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () => resolve(parseRunnerDiscovery(new TextDecoder().decode(Buffer.concat(chunks)))));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}
