/**
 * One request observer for Connect and the legacy routes: a request id on each log line, the
 * same counter and histogram, and labels from a fixed set whatever path a client asks for.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { Writable } from "node:stream";
import { once } from "node:events";
import { connect as netConnect } from "node:net";
import { afterAll, beforeAll, expect, test, vi } from "vitest";
import { SignerService } from "../../gen/livepeer/signer/v1/signer_pb.js";
import { legacyRouteLabel } from "../../src/server/observe.js";
import { orchestratorInfo } from "../support/fixtures.js";
import { gatewayPaymentBody, rawRequest, startTestServer, type RunningTestServer } from "../support/net-server.js";

const lines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString("utf8").split("\n")) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  },
});
let srv: RunningTestServer;
beforeAll(async () => {
  srv = await startTestServer({ server: { logger: pino({ level: "debug" }, sink) } });
});
afterAll(() => srv?.close(100));

const metricsText = async () => (await rawRequest(`${srv.url}/metrics`)).body;

test("unknown paths share one label: clients cannot create series", async () => {
  for (let i = 0; i < 20; i++) expect((await rawRequest(`${srv.url}/probe-${i}-${Math.random()}`)).status).toBe(404);
  const body = await metricsText();
  expect(body).toMatch(/^lpsigner_requests_total\{rpc="legacy:other",code="404"\} 20$/m);
  expect(body).toMatch(/^lpsigner_request_duration_seconds_count\{rpc="legacy:other"\} 20$/m);
  expect(body).not.toContain("probe-");
});

test("Connect and legacy calls are counted and timed by the same observer, each log line with a request id", async () => {
  const client = createClient(SignerService, createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1" }));
  await client.signOrchestratorInfo({});
  const res = await rawRequest(`${srv.url}/generate-live-payment`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: gatewayPaymentBody(orchestratorInfo()),
  });
  expect(res.status).toBe(200);
  const bad = await rawRequest(`${srv.url}/generate-live-payment`, { method: "POST", body: "{" });
  expect(bad.status).toBe(400);

  const body = await metricsText();
  expect(body).toMatch(/^lpsigner_requests_total\{rpc="SignOrchestratorInfo",code="ok"\} 1$/m);
  expect(body).toMatch(/^lpsigner_requests_total\{rpc="legacy:generate-live-payment",code="200"\} 1$/m);
  expect(body).toMatch(/^lpsigner_requests_total\{rpc="legacy:generate-live-payment",code="400"\} 1$/m);
  expect(body).toMatch(/^lpsigner_request_duration_seconds_count\{rpc="legacy:generate-live-payment"\} 2$/m);
  expect(body).toMatch(/^lpsigner_request_duration_seconds_count\{rpc="SignOrchestratorInfo"\} 1$/m);

  const logged = lines.filter((l) => l.rpc === "SignOrchestratorInfo" || l.rpc === "legacy:generate-live-payment");
  expect(logged.map((l) => `${String(l.rpc)} ${String(l.code)}`).sort()).toEqual([
    "SignOrchestratorInfo ok",
    "legacy:generate-live-payment 200",
    "legacy:generate-live-payment 400",
  ]);
  for (const l of logged) expect(l.requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(new Set(logged.map((l) => l.requestId)).size).toBe(3);
});

test("a client that goes away mid-body is counted as aborted and not logged as a server error", async () => {
  const s = netConnect(srv.port, "127.0.0.1");
  await once(s, "connect");
  s.write("POST /generate-live-payment HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"a\":1");
  await new Promise((r) => setTimeout(r, 50));
  s.destroy();
  await vi.waitFor(async () => expect(await metricsText()).toMatch(/^lpsigner_requests_total\{rpc="legacy:generate-live-payment",code="aborted"\} 1$/m), {
    timeout: 2000,
    interval: 20,
  });
  expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
});

test("legacy route labels", () => {
  expect(legacyRouteLabel("/generate-live-payment")).toBe("legacy:generate-live-payment");
  expect(legacyRouteLabel("/sign-orchestrator-info")).toBe("legacy:sign-orchestrator-info");
  expect(legacyRouteLabel("/discover-orchestrators")).toBe("legacy:discover-orchestrators");
  expect(legacyRouteLabel("/generate-live-payment/x")).toBe("legacy:other");
});
