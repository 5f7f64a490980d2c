/** Issue 11 item 10 (JSON depth): deep nesting is parsed to Go's limit, never a 500. */
import { afterAll, beforeAll, expect, test } from "vitest";
import { rawRequest, startTestServer, type RunningTestServer } from "./support/net-server.js";

let srv: RunningTestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(() => srv?.close(1000));

const post = async (body: string) => {
  const res = await rawRequest(`${srv.url}/generate-live-payment`, { method: "POST", headers: { "Content-Type": "application/json" }, body });
  return { status: res.status, message: (JSON.parse(res.body) as { error: { message: string } }).error.message };
};

test("8,000 and 10,000 levels under an unknown key are read as Go reads them (then: missing orchestrator)", async () => {
  for (const depth of [8_000, 10_000 - 1]) {
    expect(await post(`{"x":${"[".repeat(depth)}${"]".repeat(depth)}}`)).toEqual({ status: 400, message: "missing orchestrator" });
  }
});

test("one level past Go's 10,000 is a 400 with Go's message", async () => {
  const depth = 10_000;
  expect(await post(`{"x":${"[".repeat(depth)}${"]".repeat(depth)}}`)).toEqual({ status: 400, message: "invalid character '[' exceeded max depth" });
  expect((await rawRequest(`${srv.url}/healthz`)).status).toBe(200);
});
