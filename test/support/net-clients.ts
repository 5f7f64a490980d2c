import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Agent } from "node:http";

export interface NamedTransport {
  name: string;
  transport: Transport;
  /** Closes the transport's HTTP/2 connection, if it has one. */
  close(): void;
}

/** Every protocol and HTTP version the signer serves on one port, as generated clients call it. */
export function allTransports(baseUrl: string): NamedTransport[] {
  const h2 = () => new Http2SessionManager(baseUrl);
  const connectH2 = h2();
  const grpcH2 = h2();
  // HTTP/1.1 transports get agents of their own, so their connections are not shared (the
  // global agent would pool them across every transport in the process).
  const connectH1 = new Agent({ keepAlive: true });
  const grpcWebH1 = new Agent({ keepAlive: true });
  return [
    {
      name: "Connect JSON over HTTP/1.1",
      transport: createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { agent: connectH1 } }),
      close: () => connectH1.destroy(),
    },
    {
      name: "Connect binary over HTTP/2 (h2c)",
      transport: createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, sessionManager: connectH2 }),
      close: () => connectH2.abort(),
    },
    {
      name: "gRPC over HTTP/2 (h2c)",
      transport: createGrpcTransport({ baseUrl, sessionManager: grpcH2 }),
      close: () => grpcH2.abort(),
    },
    {
      name: "gRPC-web over HTTP/1.1",
      transport: createGrpcWebTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { agent: grpcWebH1 } }),
      close: () => grpcWebH1.destroy(),
    },
  ];
}
