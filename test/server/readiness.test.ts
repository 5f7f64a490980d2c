/**
 * Readiness (issue 12 item 7): /healthz stays liveness; /readyz and grpc.health.v1 follow the
 * chain view's staleness and recover with it; /metrics reports the view's age, round and funds.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { ChainUnavailableError, type ChainSnapshot, type ChainView } from "../../src/chain/chain-view.js";
import { createReadiness } from "../../src/server/health.js";
import { CHAIN } from "../support/fixtures.js";
import { rawRequest, startTestServer, type RunningTestServer } from "../support/net-server.js";

/** A chain view whose age the test sets; stale past 1 s, as a real view past maxStalenessMs. */
function adjustableChainView() {
  let ageMs = 250;
  let sender = CHAIN.sender;
  const snapshot = (): ChainSnapshot => ({ ...CHAIN, sender, readAt: Date.now() - ageMs });
  const view: ChainView = {
    current: () => {
      if (ageMs > 1000) throw new ChainUnavailableError(`chain view is ${ageMs} ms old`);
      return snapshot();
    },
    status: () => ({ snapshot: snapshot(), ageMs, stale: ageMs > 1000, ethUrl: "", devChain: false }),
    registeredOrchestrators: async () => [],
    close: async () => {},
  };
  return { view, setAge: (ms: number) => void (ageMs = ms), setSender: (s: ChainSnapshot["sender"]) => void (sender = s) };
}

const chain = adjustableChainView();
let srv: RunningTestServer;
let grpc: ReturnType<typeof createGrpcTransport>;
beforeAll(async () => {
  srv = await startTestServer({ server: { chain: chain.view } });
  grpc = createGrpcTransport({ baseUrl: srv.url });
});
afterAll(() => srv?.close(100));

const probe = async (path: string) => {
  const res = await rawRequest(`${srv.url}${path}`);
  return `${res.status} ${res.body.trim()}`;
};
const health = (service: string) => createClient(Health, grpc).check({ service }).then((r) => r.status);

test("a stale chain view: /readyz 503 and NOT_SERVING; /healthz stays 200; both recover with the view", async () => {
  chain.setAge(250);
  expect(await probe("/readyz")).toBe("200 ready");
  expect(await health("")).toBe(Status.SERVING);
  expect(await health("livepeer.signer.v1.SignerService")).toBe(Status.SERVING);

  chain.setAge(5000);
  expect(await probe("/readyz")).toBe("503 chain view stale");
  expect(await probe("/healthz")).toBe("200 ok");
  expect(await health("")).toBe(Status.NOT_SERVING);
  expect(await health("livepeer.signer.v1.SignerService")).toBe(Status.NOT_SERVING);

  chain.setAge(10);
  expect(await probe("/readyz")).toBe("200 ready");
  expect(await health("")).toBe(Status.SERVING);
  expect(await health("livepeer.signer.v1.SignerService")).toBe(Status.SERVING);
});

test("funds that cannot back tickets: /readyz 503 with the reason and NOT_SERVING; ready again once funded", async () => {
  chain.setAge(10);
  const cases: [ChainSnapshot["sender"], string][] = [
    [{ ...CHAIN.sender, reserve: 0n }, "503 cannot pay: no sender reserve"],
    [{ ...CHAIN.sender, deposit: 0n }, "503 cannot pay: no sender deposit"],
    [{ ...CHAIN.sender, withdrawRound: CHAIN.lastInitializedRound + 1n }, "503 cannot pay: unable to validate sender: deposit and reserve is set to unlock soon"],
  ];
  try {
    for (const [sender, expected] of cases) {
      chain.setSender(sender);
      expect(await probe("/readyz")).toBe(expected);
      expect(await health("")).toBe(Status.NOT_SERVING);
      expect(await health("livepeer.signer.v1.SignerService")).toBe(Status.NOT_SERVING);
      expect(await probe("/healthz")).toBe("200 ok");
    }
  } finally {
    chain.setSender(CHAIN.sender);
  }
  expect(await probe("/readyz")).toBe("200 ready");
  expect(await health("")).toBe(Status.SERVING);
});

test("Health/Watch streams the change to NOT_SERVING and back", async () => {
  chain.setAge(10);
  const ac = new AbortController();
  const seen: Status[] = [];
  const stream = createClient(Health, grpc).watch({ service: "livepeer.signer.v1.SignerService" }, { signal: ac.signal });
  try {
    for await (const msg of stream) {
      seen.push(msg.status);
      if (seen.length === 1) chain.setAge(5000);
      if (seen.length === 2) chain.setAge(10);
      if (seen.length === 3) break;
    }
  } finally {
    ac.abort();
  }
  expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING, Status.SERVING]);
}, 10_000);

test("an unknown service name is NOT_FOUND", async () => {
  const err = await health("no.such.Service").then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err?.code).toBe(Code.NotFound);
});

test("/metrics reports the chain view's age, round, deposit and reserve at scrape time", async () => {
  chain.setAge(1500);
  const body = (await rawRequest(`${srv.url}/metrics`)).body;
  expect(body).toMatch(/^lpsigner_chain_view_age_seconds 1\.5$/m);
  expect(body).toMatch(new RegExp(`^lpsigner_chain_round ${CHAIN.lastInitializedRound}$`, "m"));
  expect(body).toMatch(new RegExp(`^lpsigner_sender_deposit_wei ${Number(CHAIN.sender.deposit)}$`, "m"));
  expect(body).toMatch(new RegExp(`^lpsigner_sender_reserve_wei ${Number(CHAIN.sender.reserve)}$`, "m"));
  chain.setAge(20);
  expect((await rawRequest(`${srv.url}/metrics`)).body).toMatch(/^lpsigner_chain_view_age_seconds 0\.02$/m);
});

test("shutting down: not live and not ready, whatever the chain view says", () => {
  chain.setAge(10);
  const readiness = createReadiness(chain.view);
  expect([readiness.live(), readiness.notReady()]).toEqual([true, undefined]);
  readiness.shutdown();
  expect([readiness.live(), readiness.notReady()]).toEqual([false, "shutting down"]);
});
