/** With -tlsCert/-tlsKey one port serves gRPC over TLS (h2) and Connect and legacy over HTTPS/1.1. */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { request } from "node:https";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { SignerService } from "../gen/livepeer/signer/v1/signer_pb.js";
import { createSignerMetrics, createSignerServer, type SignerServer } from "../src/server/create-server.js";
import { signOrchestratorInfo } from "../src/crypto/eth-sign.js";
import { TLS } from "./discovery/fake-orchestrator.js";
import { testDeps } from "./support/fixtures.js";

const { deps, signer } = testDeps();
let server: SignerServer;
let base: string;

beforeAll(async () => {
  server = createSignerServer({
    service: { payments: deps, orchInfoSignature: signOrchestratorInfo(signer), status: () => ({ addressHex: signer.addressHex }) },
    legacy: {},
    logger: pino({ level: "silent" }),
    metrics: createSignerMetrics(),
    corsOrigins: ["*"],
    tls: { cert: TLS.cert.toString(), key: TLS.key.toString() },
  });
  const { port } = await server.listen("127.0.0.1", 0);
  base = `https://127.0.0.1:${port}`;
});
afterAll(() => server.close(100));

test("gRPC over TLS and Connect over HTTPS/1.1 on the same port", async () => {
  const grpc = createClient(SignerService, createGrpcTransport({ baseUrl: base, nodeOptions: { rejectUnauthorized: false } }));
  expect((await grpc.getSignerStatus({})).addressHex).toBe(signer.addressHex);
  const connect = createClient(
    SignerService,
    createConnectTransport({ baseUrl: base, httpVersion: "1.1", nodeOptions: { rejectUnauthorized: false } }),
  );
  expect((await connect.signOrchestratorInfo({})).addressHex).toBe(signer.addressHex);
  const legacy = await new Promise<string>((resolve, reject) => {
    const req = request(`${base}/sign-orchestrator-info`, { method: "POST", rejectUnauthorized: false }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve(body));
    });
    req.on("error", reject);
    req.end();
  });
  expect(JSON.parse(legacy)).toMatchObject({ address: signer.addressHex });
});
