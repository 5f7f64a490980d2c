/**
 * A SignerService client over Connect or gRPC-web: both run in browsers and in Node (fetch).
 * gRPC (HTTP/2 with trailers) needs Node: `lpsigner/client/node` adds it.
 */
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { SignerService } from "../../gen/livepeer/signer/v1/signer_pb.js";

export type SignerClient = Client<typeof SignerService>;

export interface SignerClientOptions {
  /** The signer's URL, e.g. http://127.0.0.1:8935. */
  baseUrl: string;
  /** "connect" (default; binary protobuf) or "grpc-web". */
  protocol?: "connect" | "grpc-web";
  /** Headers sent with every call, e.g. what the signer's auth webhook checks. */
  headers?: Record<string, string>;
  /** A transport of your own instead (protocol and baseUrl are then ignored). */
  transport?: Transport;
}

export function headerInterceptor(headers: Record<string, string> | undefined): Interceptor[] {
  if (!headers || Object.keys(headers).length === 0) return [];
  return [
    (next) => (req) => {
      for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
      return next(req);
    },
  ];
}

export function createSignerClient(opts: SignerClientOptions): SignerClient {
  if (opts.transport) return createClient(SignerService, opts.transport);
  const common = { baseUrl: opts.baseUrl, useBinaryFormat: true, interceptors: headerInterceptor(opts.headers) };
  const protocol = opts.protocol ?? "connect";
  if (protocol !== "connect" && protocol !== "grpc-web") {
    throw new Error(`protocol: expected "connect" or "grpc-web" (gRPC needs lpsigner/client/node), got ${JSON.stringify(protocol)}`);
  }
  return createClient(SignerService, protocol === "connect" ? createConnectTransport(common) : createGrpcWebTransport(common));
}
