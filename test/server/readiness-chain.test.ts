/**
 * Readiness against a real chain view (issue 12 item 7): the dev chain behind a proxy the test
 * cuts. While the view is stale /readyz is 503 and grpc.health.v1 NOT_SERVING, /healthz stays
 * 200, and payments are refused; all recover when the RPC returns.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, expect, test, vi } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { SignerService } from "../../gen/livepeer/signer/v1/signer_pb.js";
import { createChainView } from "../../src/chain/chain-client.js";
import type { ChainView } from "../../src/chain/chain-view.js";
import { startDevChain, type DevChain } from "../../src/dev-chain/dev-chain.js";
import { startCuttableProxy, type CuttableProxy } from "../chain/cuttable-proxy.js";
import { orchestratorInfo, testDeps } from "../support/fixtures.js";
import { paymentRequest, rawRequest, startTestServer, type RunningTestServer } from "../support/net-server.js";

let chain: DevChain;
let proxy: CuttableProxy;
let view: ChainView;
let srv: RunningTestServer;

beforeAll(async () => {
  const t = testDeps();
  chain = await startDevChain({ signer: { address: t.signer.addressHex } });
  proxy = await startCuttableProxy({ target: chain.url });
  view = await createChainView({
    ethUrl: proxy.url,
    controllerAddress: chain.controllerAddress,
    signerAddress: t.signer.addressHex,
    // Generous for a loaded machine: the view must not go stale before the cut.
    refreshIntervalMs: 100,
    requestTimeoutMs: 1000,
    maxStalenessMs: 2000,
  });
  t.deps.chain = view;
  srv = await startTestServer({ deps: t });
}, 60_000);

afterAll(async () => {
  await srv?.close(100);
  await view?.close();
  await proxy?.close();
  await chain?.close();
});

test("stale view: /readyz 503, NOT_SERVING, payments refused, /healthz 200; all recover with the view", async () => {
  const grpc = createGrpcTransport({ baseUrl: srv.url });
  const health = () => createClient(Health, grpc).check({ service: "livepeer.signer.v1.SignerService" }).then((r) => r.status);
  const readyz = async () => (await rawRequest(`${srv.url}/readyz`)).status;
  expect(await readyz()).toBe(200);
  expect(await health()).toBe(Status.SERVING);

  await proxy.cut();
  await vi.waitFor(async () => expect(await readyz()).toBe(503), { timeout: 10_000, interval: 50 });
  expect(await health()).toBe(Status.NOT_SERVING);
  expect((await rawRequest(`${srv.url}/healthz`)).status).toBe(200);
  const before = srv.signer.signCount();
  const err = await createClient(SignerService, grpc)
    .generateLivePayment(paymentRequest(orchestratorInfo()))
    .then(() => undefined, (e: unknown) => ConnectError.from(e));
  expect(err?.code).toBe(Code.Unavailable);
  expect(srv.signer.signCount()).toBe(before);

  await proxy.restore();
  await vi.waitFor(async () => expect(await readyz()).toBe(200), { timeout: 10_000, interval: 50 });
  expect(await health()).toBe(Status.SERVING);
  expect((await rawRequest(`${srv.url}/metrics`)).body).toMatch(/^lpsigner_chain_view_age_seconds 0(\.\d+)?$/m);
}, 30_000);
