import { cors as connectCors } from "@connectrpc/connect";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { isIP } from "node:net";

/**
 * Browser-facing defences. By default no origin may call the signer from a page (the dashboard
 * is same-origin). `corsOrigins` opts origins in for the Connect/gRPC-web services only: the
 * legacy endpoints get no CORS, as go-livepeer. "*" allows any origin except "null" (sandboxed
 * frames, file: pages), which is never allowed. No Private-Network-Access allowance is sent, so
 * public pages cannot reach a loopback signer through a browser's PNA preflight.
 */
export function createCors(origins: readonly string[], servicePaths: readonly string[]) {
  const allowAny = origins.includes("*");
  const allowed = new Set(origins.filter((o) => o !== "*" && o !== "null"));
  const prefixes = servicePaths.map((name) => `/${name}/`);

  /** Adds CORS headers for an allowed origin; answers (and returns true for) its preflight. */
  return function applyCors(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): boolean {
    const origin = req.headers.origin;
    if (!origin || origin === "null" || !(allowAny || allowed.has(origin))) return false;
    const path = req.url ?? "";
    if (!prefixes.some((p) => path.startsWith(p))) return false;
    res.setHeader("Access-Control-Allow-Origin", origin);
    res.setHeader("Vary", "Origin");
    res.setHeader("Access-Control-Expose-Headers", connectCors.exposedHeaders.join(", "));
    if (req.method !== "OPTIONS") return false;
    res.setHeader("Access-Control-Allow-Methods", connectCors.allowedMethods.join(", "));
    res.setHeader("Access-Control-Allow-Headers", [...connectCors.allowedHeaders, "Signer-Auth-Id", "Authorization"].join(", "));
    res.setHeader("Access-Control-Max-Age", "7200");
    res.writeHead(204);
    res.end();
    return true;
  };
}

/** True for a listen host that only loopback clients can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (h === "localhost") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  if (isIP(h) === 6) return h === "::1" || h.startsWith("::ffff:127.");
  return false;
}

/**
 * DNS-rebinding defence for a loopback bind: a page on evil.example whose name now resolves to
 * 127.0.0.1 still sends "Host: evil.example". Only loopback names and addresses (any port) pass;
 * a request with no Host at all (not a browser) passes too.
 */
export function hostAllowedOnLoopback(req: IncomingMessage | Http2ServerRequest): boolean {
  const host = req.headers.host ?? req.headers[":authority"];
  if (host === undefined) return true;
  if (typeof host !== "string") return false;
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d*$/, "");
  return isLoopbackHost(name);
}
