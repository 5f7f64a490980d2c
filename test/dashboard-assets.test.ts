/**
 * The dashboard's static files over a real loopback signer: redirects, content types, cache
 * headers, conditional requests, CSP on the page, and no way out of the built directory.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DASHBOARD_CSP, createDashboardHandler } from "../src/dashboard/serve-dashboard.js";
import { rawRequest, startTestServer, type RunningTestServer } from "./support/net-server.js";

let srv: RunningTestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv?.close(200);
});

/** A request line sent as is (no client-side normalisation of dot segments). */
function rawPath(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(srv.port, "127.0.0.1", () => s.end(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nConnection: close\r\n\r\n`));
    let out = "";
    s.on("data", (c) => (out += c.toString("latin1")));
    s.on("end", () => resolve(out));
    s.on("error", reject);
  });
}

describe("dashboard assets", () => {
  test("/ and /dashboard redirect to /dashboard/", async () => {
    for (const path of ["/", "/dashboard", "/?x=1"]) {
      const res = await rawRequest(`${srv.url}${path}`);
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe("/dashboard/");
    }
  });

  test("the page: HTML, not cached without revalidation, strict CSP, no framing", async () => {
    const res = await rawRequest(`${srv.url}/dashboard/`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(res.headers["cache-control"]).toBe("no-cache");
    expect(res.headers["content-security-policy"]).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toContain("default-src 'none'");
    expect(DASHBOARD_CSP).not.toContain("unsafe");
    expect(res.headers["x-frame-options"]).toBe("DENY");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.body).toContain("<title>lpsigner dashboard</title>");
    // Nothing inline: every script and style comes from a file under /dashboard/.
    expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(res.body).not.toMatch(/<style|style="/);
    const again = await rawRequest(`${srv.url}/dashboard/index.html`, { headers: { "If-None-Match": String(res.headers.etag) } });
    expect(again.status).toBe(304);
    expect(again.body).toBe("");
  });

  test("hashed assets: JavaScript and CSS with their types, cached for good; HEAD has no body", async () => {
    const page = (await rawRequest(`${srv.url}/dashboard/`)).body;
    const js = /src="(\/dashboard\/assets\/[^"]+\.js)"/.exec(page)![1]!;
    const css = /href="(\/dashboard\/assets\/[^"]+\.css)"/.exec(page)![1]!;
    const jsRes = await rawRequest(`${srv.url}${js}`);
    expect(jsRes.status).toBe(200);
    expect(jsRes.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(jsRes.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect((await rawRequest(`${srv.url}${css}`)).headers["content-type"]).toBe("text/css; charset=utf-8");
    const head = await rawRequest(`${srv.url}${js}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe(String(Buffer.byteLength(jsRes.body)));
    expect(head.body).toBe("");
    expect((await rawRequest(`${srv.url}/dashboard/favicon.svg`)).headers["content-type"]).toBe("image/svg+xml");
  });

  test("no path outside the built files: traversal, encoded dots and unknown names are 404", async () => {
    for (const path of [
      "/dashboard/../package.json",
      "/dashboard/%2e%2e/package.json",
      "/dashboard/..%2fpackage.json",
      "/dashboard/assets/../../../package.json",
      "/dashboard//etc/passwd",
      "/dashboard/nope.js",
    ]) {
      const out = await rawPath(path);
      expect(out.split("\r\n")[0], path).toBe("HTTP/1.1 404 Not Found");
      expect(out).not.toContain('"name": "lpsigner"');
    }
  });

  test("other methods are refused with 405 and Allow", async () => {
    const res = await rawRequest(`${srv.url}/dashboard/`, { method: "POST", body: "x" });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe("GET, HEAD");
  });

  test("without built files the signer says how to build them", async () => {
    const handler = createDashboardHandler("/nonexistent-dir-for-test");
    let status = 0;
    let body = "";
    const res = {
      writeHead: (s: number) => (status = s),
      end: (b: Buffer | string) => (body = String(b)),
    };
    expect(handler({ method: "GET", url: "/dashboard/", headers: {} } as never, res as never)).toBe(true);
    expect(status).toBe(404);
    expect(body).toContain("npm run build:web");
    expect(handler({ method: "GET", url: "/generate-live-payment", headers: {} } as never, res as never)).toBe(false);
  });
});
