/**
 * lpsigner/client/node: everything in lpsigner/client, plus what needs Node: gRPC to the signer,
 * the orchestrator's GetOrchestrator over TLS (self-signed certificates, pinning) and a payment
 * sender that trusts orchestrator certificates the same way.
 */
import https from "node:https";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { SignerService } from "../../gen/livepeer/signer/v1/signer_pb.js";
import { verifiedTlsSocket, type OrchestratorTls } from "./orchestrator-tls.js";
import { paymentAnswer, paymentUrl, PAYMENT_HEADER, PAYMENT_TIMEOUT_MS, SEGMENT_HEADER, type SendPaymentResult } from "./send-payment.js";
import { headerInterceptor, type SignerClient, type SignerClientOptions } from "./signer-client.js";

export * from "./index.js";
export { getOrchestratorInfo, orchestratorBaseUrl, type GetOrchestratorInfoOptions } from "./get-orchestrator-info.js";
export { forgetPinnedCertificate, OrchestratorCertificateError, type OrchestratorTls } from "./orchestrator-tls.js";

/** createSignerClient for Node: also "grpc" (HTTP/2; h2c for http:// URLs). Default "grpc". */
export function createSignerClient(opts: Omit<SignerClientOptions, "protocol"> & { protocol?: "grpc" | "connect" | "grpc-web" }): SignerClient {
  if (opts.transport) return createClient(SignerService, opts.transport);
  const protocol = opts.protocol ?? "grpc";
  const common = { baseUrl: opts.baseUrl, interceptors: headerInterceptor(opts.headers) };
  switch (protocol) {
    case "grpc":
      return createClient(SignerService, createGrpcTransport(common));
    case "connect":
      return createClient(SignerService, createConnectTransport({ ...common, httpVersion: "1.1", useBinaryFormat: true }));
    case "grpc-web":
      return createClient(SignerService, createGrpcWebTransport({ ...common, httpVersion: "1.1" }));
    default:
      throw new Error(`protocol: expected "grpc", "connect" or "grpc-web", got ${JSON.stringify(protocol)}`);
  }
}

const MAX_ANSWER_BYTES = 1 << 20;

/**
 * POST <orchestrator>/payment as go-livepeer's live payment sender does, over HTTPS with the
 * orchestrator certificate checked by `tls` (default: pinned on first use) before anything is sent.
 */
export async function sendPayment(
  orchestratorUrl: string,
  result: { paymentHeader: string; segmentHeader: string },
  opts: { tls?: OrchestratorTls; timeoutMs?: number } = {},
): Promise<SendPaymentResult> {
  const target = new URL(paymentUrl(orchestratorUrl));
  const timeoutMs = opts.timeoutMs ?? PAYMENT_TIMEOUT_MS;
  const socket = target.protocol === "https:" ? await verifiedTlsSocket(target, opts.tls, ["http/1.1"], timeoutMs) : undefined;
  const request = target.protocol === "https:" ? https.request : (await import("node:http")).request;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: "POST",
        headers: { [PAYMENT_HEADER]: result.paymentHeader, [SEGMENT_HEADER]: result.segmentHeader, "Content-Length": "0" },
        // The verified socket, and no agent (an agent would open its own connection).
        ...(socket ? { createConnection: () => socket } : { agent: false }),
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`orchestrator's payment answer exceeds ${MAX_ANSWER_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on("end", () => resolve(paymentAnswer(res.statusCode ?? 0, Buffer.concat(chunks))));
        res.on("error", reject);
      },
    );
    req.on("error", (err) => {
      socket?.destroy();
      reject(err);
    });
    req.end();
  });
}
