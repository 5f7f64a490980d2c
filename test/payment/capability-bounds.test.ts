import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SignerService } from "../../gen/livepeer/signer/v1/signer_pb.js";
import { CapabilitiesSchema, SegDataSchema, type Capabilities } from "../../gen/net/lp_rpc_pb.js";
import { CAPABILITY_BOUNDS } from "../../src/payment/request-capabilities.js";
import { signerRoutes } from "../../src/service/signer-service.js";
import { orchestratorInfo } from "../support/fixtures.js";
import { gatewayPaymentBody, paymentRequest, rawRequest, startTestServer, testStatus, type RunningTestServer } from "../support/net-server.js";

// Issue 11 item 6: a bitstring of all ones expanded to one capacity entry per set bit
// (750 KB in, 56 MB out). Capabilities are bounded when decoded, with a 400 naming the field.
let srv: RunningTestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(() => srv.close(100));

const ALL_ONES = (1n << 64n) - 1n;
const caps = (init: Parameters<typeof create<typeof CapabilitiesSchema>>[1]) => create(CapabilitiesSchema, init);

function models(n: number) {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`model-${i}`, { warm: true, capacity: 1, runnerVersion: "v1" }]));
}

const OVERSIZED: [string, Capabilities, string][] = [
  ["bitstring of all ones", caps({ bitstring: Array(50_000).fill(ALL_ONES) }), "capabilities.bitstring: 50000 entries, at most 16"],
  ["mandatories", caps({ mandatories: Array(17).fill(1n) }), "capabilities.mandatories: 17 entries, at most 16"],
  [
    "capacities",
    caps({ capacities: Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [i, 1])) }),
    "capabilities.capacities: 1025 entries, at most 1024",
  ],
  ["version", caps({ version: "v".repeat(257) }), "capabilities.version: longer than 256 characters"],
  [
    "models of one capability",
    caps({ constraints: { PerCapability: { 35: { models: models(65) } } } }),
    "capabilities.constraints.PerCapability[35].models: 65 entries, at most 64",
  ],
  [
    "models in total",
    caps({ constraints: { PerCapability: Object.fromEntries(Array.from({ length: 5 }, (_, i) => [27 + i, { models: models(60) }])) } }),
    "capabilities.constraints.PerCapability models in total: 300 entries, at most 256",
  ],
  [
    "a model's runnerVersion",
    caps({ constraints: { PerCapability: { 35: { models: { m: { runnerVersion: "r".repeat(300) } } } } } }),
    'capabilities.constraints.PerCapability[35].models["m"].runnerVersion: longer than 256 characters',
  ],
];

describe("capabilities are bounded at decode time", () => {
  test.each(OVERSIZED)("legacy: %s is a 400 naming the field, nothing signed", async (_name, c, message) => {
    const before = srv.signer.signCount();
    const res = await rawRequest(srv.url + "/generate-live-payment", {
      method: "POST",
      body: gatewayPaymentBody(orchestratorInfo(), { extra: { capabilities: Buffer.from(toBinary(CapabilitiesSchema, c)).toString("base64") } }),
    });
    expect(res.status).toBe(400);
    expect(res.body).toBe(`{"error":{"message":${JSON.stringify(message)}}}\n`);
    expect(srv.signer.signCount()).toBe(before);
  });

  test.each(OVERSIZED)("Connect: %s is INVALID_ARGUMENT naming the field, nothing signed", async (_name, c, message) => {
    const client = createClient(
      SignerService,
      createRouterTransport(signerRoutes({ payments: srv.deps, orchInfoSignature: new Uint8Array(65), status: testStatus(srv) }), {
        router: { readMaxBytes: 4 << 20 },
      }),
    );
    const before = srv.signer.signCount();
    const err = await client.generateLivePayment(paymentRequest(orchestratorInfo(), { capabilities: c })).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toBe(message);
    expect(srv.signer.signCount()).toBe(before);
  });

  test("at the bounds the request is signed, and the credentials stay small", async () => {
    const c = caps({ bitstring: Array(CAPABILITY_BOUNDS.words).fill(ALL_ONES), constraints: { PerCapability: { 35: { models: models(64) } } } });
    const res = await rawRequest(srv.url + "/generate-live-payment", {
      method: "POST",
      body: gatewayPaymentBody(orchestratorInfo(), { extra: { capabilities: Buffer.from(toBinary(CapabilitiesSchema, c)).toString("base64") } }),
    });
    expect(res.status, res.body).toBe(200);
    expect(res.body.length).toBeLessThan(64 * 1024);
    const segCreds = fromBinary(SegDataSchema, Buffer.from((JSON.parse(res.body) as { segCreds: string }).segCreds, "base64"));
    expect(Object.keys(segCreds.capabilities!.capacities)).toHaveLength(CAPABILITY_BOUNDS.words * 64);
  });

  test("the bounds error comes at the reference's step: after the state checks", async () => {
    const c = caps({ bitstring: Array(17).fill(1n) });
    const res = await rawRequest(srv.url + "/generate-live-payment", {
      method: "POST",
      body: gatewayPaymentBody(orchestratorInfo(), {
        state: { State: Buffer.from("{}").toString("base64"), Sig: Buffer.from("x").toString("base64") },
        extra: { capabilities: Buffer.from(toBinary(CapabilitiesSchema, c)).toString("base64") },
      }),
    });
    expect(res.status).toBe(400);
    expect(res.body).toBe('{"error":{"message":"invalid sig"}}\n');
  });
});
