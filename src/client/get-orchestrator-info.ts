/**
 * The orchestrator's GetOrchestrator gRPC call over TLS, authenticated with the signer's address
 * and its signature (SignOrchestratorInfo), as a go-livepeer gateway makes it: the OrchestratorInfo
 * it returns (price, ticket params, auth token) is what GenerateLivePayment pays against.
 */
import http2 from "node:http2";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Orchestrator, OrchestratorRequestSchema, type Capabilities, type OrchestratorInfo } from "../../gen/net/lp_rpc_pb.js";
import { verifiedTlsSocket, type OrchestratorTls } from "./orchestrator-tls.js";
import type { SignerClient } from "./signer-client.js";

export interface GetOrchestratorInfoOptions {
  tls?: OrchestratorTls;
  /** Default 5 s. */
  timeoutMs?: number;
  capabilities?: Capabilities;
  ignoreCapacityCheck?: boolean;
}

/** The orchestrator's URL as go-livepeer parses it: "https://" is assumed when no scheme is given. */
export function orchestratorBaseUrl(orchestratorUrl: string): URL {
  const url = new URL(/^https?:\/\//.test(orchestratorUrl) ? orchestratorUrl : `https://${orchestratorUrl}`);
  return new URL(`${url.protocol}//${url.host}`);
}

/** `signer`: a SignerClient (SignOrchestratorInfo is called) or its result, reused across calls. */
export async function getOrchestratorInfo(
  orchestratorUrl: string,
  signer: SignerClient | { address: Uint8Array; signature: Uint8Array },
  opts: GetOrchestratorInfoOptions = {},
): Promise<OrchestratorInfo> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const { address, signature } = "signOrchestratorInfo" in signer ? await signer.signOrchestratorInfo({}, { timeoutMs }) : signer;
  const url = orchestratorBaseUrl(orchestratorUrl);
  const baseUrl = url.href.replace(/\/$/, "");
  // The certificate is checked before HTTP/2 starts; the session gets that one socket only.
  let socket = url.protocol === "https:" ? await verifiedTlsSocket(url, opts.tls, ["h2"], timeoutMs) : undefined;
  const options: http2.SecureClientSessionOptions = socket
    ? {
        createConnection: () => {
          const s = socket;
          socket = undefined;
          if (!s) throw new Error(`orchestrator ${url.host}: connection closed`);
          return s;
        },
      }
    : {};
  const sessionManager = new Http2SessionManager(baseUrl, undefined, options);
  try {
    const client = createClient(Orchestrator, createGrpcTransport({ baseUrl, sessionManager }));
    const request = create(OrchestratorRequestSchema, {
      address,
      sig: signature,
      capabilities: opts.capabilities,
      ignoreCapacityCheck: opts.ignoreCapacityCheck ?? false,
    });
    return await client.getOrchestrator(request, { timeoutMs });
  } finally {
    sessionManager.abort();
    socket?.destroy();
  }
}
