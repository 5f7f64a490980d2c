/**
 * Browser-facing defences (issue 11 item 7): no cross-origin access by default, opted-in
 * origins for Connect and gRPC-web only, never "null", no Private-Network-Access allowance,
 * and the Host check on a loopback bind (DNS rebinding).
 */
import { once } from "node:events";
import { connect as h2connect } from "node:http2";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { hostAllowedOnLoopback, isLoopbackHost } from "../../src/server/cors.js";
import { gatewayPaymentBody, rawRequest, startTestServer, type RunningTestServer } from "../support/net-server.js";
import { orchestratorInfo } from "../support/fixtures.js";

const STATUS = "/livepeer.signer.v1.SignerService/GetSignerStatus";
const APP = "https://app.example";

let closed: RunningTestServer; // no corsOrigins given: the default
let opted: RunningTestServer; // corsOrigins: [APP]
let any: RunningTestServer; // corsOrigins: ["*"]
beforeAll(async () => {
  closed = await startTestServer({ server: { corsOrigins: undefined } });
  opted = await startTestServer({ server: { corsOrigins: [APP, "null"] } });
  any = await startTestServer({ server: { corsOrigins: ["*"] } });
});
afterAll(async () => {
  for (const s of [closed, opted, any]) await s?.close(100);
});

const preflight = (srv: RunningTestServer, origin: string, path = STATUS) =>
  rawRequest(`${srv.url}${path}`, {
    method: "OPTIONS",
    headers: {
      Origin: origin,
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "content-type,connect-protocol-version",
      "Access-Control-Request-Private-Network": "true",
    },
  });
const connectPost = (srv: RunningTestServer, origin: string) =>
  rawRequest(`${srv.url}${STATUS}`, {
    method: "POST",
    headers: { Origin: origin, "Content-Type": "application/json", "Connect-Protocol-Version": "1" },
    body: "{}",
  });
const allowHeaders = (h: Record<string, unknown>) => Object.keys(h).filter((k) => k.startsWith("access-control-allow"));

describe("CORS", () => {
  test("by default a preflight from any origin gets no allow headers, and a call no Allow-Origin", async () => {
    const pre = await preflight(closed, "https://evil.example");
    expect(allowHeaders(pre.headers)).toEqual([]);
    const res = await connectPost(closed, "https://evil.example");
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
  });

  test("an opted-in origin works for Connect and gRPC-web; other origins do not", async () => {
    const pre = await preflight(opted, APP);
    expect(pre.status).toBe(204);
    expect(pre.headers["access-control-allow-origin"]).toBe(APP);
    expect(String(pre.headers["access-control-allow-headers"]).toLowerCase()).toContain("connect-protocol-version");
    const res = await connectPost(opted, APP);
    expect(res.status).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBe(APP);

    // gRPC-web: an empty GetSignerStatusRequest in one data frame.
    const web = await rawRequest(`${opted.url}${STATUS}`, {
      method: "POST",
      headers: { Origin: APP, "Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1" },
      body: new Uint8Array([0, 0, 0, 0, 0]),
    });
    expect(web.status).toBe(200);
    expect(web.headers["access-control-allow-origin"]).toBe(APP);
    expect(String(web.headers["access-control-expose-headers"]).toLowerCase()).toContain("grpc-status");

    expect(allowHeaders((await preflight(opted, "https://other.example")).headers)).toEqual([]);
  });

  test('Origin "null" is refused, even with "*" or listed', async () => {
    for (const srv of [any, opted]) {
      expect(allowHeaders((await preflight(srv, "null")).headers)).toEqual([]);
      expect((await connectPost(srv, "null")).headers["access-control-allow-origin"]).toBeUndefined();
    }
  });

  test("no Private-Network-Access allowance is ever sent", async () => {
    const pre = await preflight(any, APP);
    expect(pre.headers["access-control-allow-origin"]).toBe(APP);
    expect(pre.headers["access-control-allow-private-network"]).toBeUndefined();
  });

  test('the legacy endpoints get no CORS, even with "*"', async () => {
    const pre = await preflight(any, APP, "/generate-live-payment");
    expect(allowHeaders(pre.headers)).toEqual([]);
    const res = await rawRequest(`${any.url}/generate-live-payment`, {
      method: "POST",
      headers: { Origin: APP, "Content-Type": "application/json" },
      body: gatewayPaymentBody(orchestratorInfo()),
    });
    expect(res.status).toBe(200);
    expect(allowHeaders(res.headers)).toEqual([]);
    const info = await rawRequest(`${any.url}/sign-orchestrator-info`, { method: "POST", headers: { Origin: APP } });
    expect(allowHeaders(info.headers)).toEqual([]);
  });
});

describe("Host check on a loopback bind (DNS rebinding)", () => {
  test("Host: evil.example is 403 over HTTP/1.1, on every path, and nothing is signed", async () => {
    const before = any.signer.signCount();
    for (const path of ["/healthz", "/metrics", STATUS]) {
      const res = await rawRequest(`${any.url}${path}`, { headers: { Host: "evil.example" } });
      expect(res.status).toBe(403);
    }
    const pay = await rawRequest(`${any.url}/generate-live-payment`, {
      method: "POST",
      headers: { Host: "evil.example:8935", "Content-Type": "application/json" },
      body: gatewayPaymentBody(orchestratorInfo()),
    });
    expect(pay.status).toBe(403);
    expect(any.signer.signCount()).toBe(before);
  });

  test("loopback names and addresses pass, with any port", async () => {
    for (const host of ["localhost", "localhost:8935", "127.0.0.1", "127.1.2.3:1", "[::1]:8935", "[::1]"]) {
      expect((await rawRequest(`${any.url}/healthz`, { headers: { Host: host } })).status, host).toBe(200);
    }
  });

  test("HTTP/2 :authority evil.example is 403", async () => {
    const session = h2connect(any.url);
    session.on("error", () => {});
    try {
      const status = async (authority: string) => {
        const stream = session.request({ ":path": "/healthz", ":authority": authority });
        const [headers] = (await once(stream, "response")) as [Record<string, unknown>];
        stream.resume();
        return headers[":status"];
      };
      expect(await status("evil.example")).toBe(403);
      expect(await status(`127.0.0.1:${any.port}`)).toBe(200);
    } finally {
      session.close();
    }
  });

  test("which listen hosts count as loopback, and which Host headers pass", () => {
    for (const h of ["127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost", "LOCALHOST"]) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ["", "0.0.0.0", "::", "10.0.0.1", "example.com", "127.0.0.1.evil.example", "localhost.evil.example"]) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
    const req = (host: string) => ({ headers: { host } }) as unknown as Parameters<typeof hostAllowedOnLoopback>[0];
    expect(hostAllowedOnLoopback(req("127.0.0.1.nip.io"))).toBe(false);
    expect(hostAllowedOnLoopback(req("[::1]:1"))).toBe(true);
    expect(hostAllowedOnLoopback(req("localhost:"))).toBe(true);
    expect(hostAllowedOnLoopback(req("[::1"))).toBe(false);
  });
});
