import { readFileSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Orchestrator, OrchestratorInfoSchema, type OrchestratorRequest } from "../../gen/net/lp_rpc_pb.js";
import { orchestratorRequestValid } from "../../src/dev-orchestrator/dev-orchestrator.js";

const fixtures = new URL("./fixtures/", import.meta.url);
/** A self-signed certificate for 127.0.0.1 (test only), as orchestrators usually have. */
export const TLS = {
  key: readFileSync(new URL("orch-key.pem", fixtures)),
  cert: readFileSync(new URL("orch-cert.pem", fixtures)),
};

export interface FakeOrchestratorOptions {
  /** The OrchestratorInfo to answer with; `transcoder` defaults to the fake's own URL. */
  info: (url: string) => MessageInitShape<typeof OrchestratorInfoSchema>;
  /** Answer GetOrchestrator only after this long (or when the caller gives up). */
  delayMs?: number;
  /** Body of GET /discovery (200), or an HTTP status to fail with; 404 when unset. */
  discovery?: (url: string) => string | number;
}

export interface FakeOrchestrator {
  url: string;
  /** Requests that passed the signature check. */
  accepted: OrchestratorRequest[];
  /** Requests refused for a bad signature. */
  refused: number;
  discoveryCalls: number;
  setInfo(info: FakeOrchestratorOptions["info"]): void;
  close(): Promise<void>;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });

/** A gRPC orchestrator on 127.0.0.1 over TLS that answers net.Orchestrator/GetOrchestrator and GET /discovery. */
export async function startFakeOrchestrator(opts: FakeOrchestratorOptions): Promise<FakeOrchestrator> {
  let infoFn = opts.info;
  let url = "";
  const fake: FakeOrchestrator = {
    url: "",
    accepted: [],
    refused: 0,
    discoveryCalls: 0,
    setInfo: (info) => {
      infoFn = info;
    },
    close: async () => {},
  };
  const routes = (router: ConnectRouter) =>
    router.service(Orchestrator, {
      async getOrchestrator(req, ctx) {
        if (!orchestratorRequestValid(req)) {
          fake.refused++;
          throw new ConnectError("invalid signature", Code.PermissionDenied);
        }
        fake.accepted.push(req);
        if (opts.delayMs) await sleep(opts.delayMs, ctx.signal);
        return create(OrchestratorInfoSchema, { transcoder: url, ...infoFn(url) });
      },
    });
  const handler = connectNodeAdapter({
    routes,
    grpc: true,
    connect: false,
    grpcWeb: false,
    fallback(req, res) {
      if (req.method === "GET" && req.url === "/discovery" && opts.discovery) {
        fake.discoveryCalls++;
        const reply = opts.discovery(url);
        if (typeof reply === "number") {
          res.writeHead(reply);
          res.end();
          return;
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end(reply);
        return;
      }
      res.writeHead(404);
      res.end("404 page not found\n");
    },
  });
  const server = http2.createSecureServer({ ...TLS, allowHTTP1: true }, handler);
  const sockets = new Set<net.Socket>();
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.url = url;
  fake.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return fake;
}

/** A loopback port nothing listens on. */
export async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
