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
  const originAllowed = (origin: string) => origin !== "null" && (allowAny || allowed.has(origin));

  /** Adds CORS headers for an allowed origin; answers (and returns true for) its preflight. */
  function applyCors(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): boolean {
    const origin = req.headers.origin;
    if (!origin || !originAllowed(origin)) return false;
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
  }

  /**
   * Why a browser page on another site must not reach a legacy endpoint, or undefined. A form
   * or a no-cors fetch can POST text/plain cross-site without a preflight: the page cannot read
   * the reply, but the signer would do the work and spend nonces. go-livepeer gateways send
   * neither Sec-Fetch-Site nor Origin, so refusing both cross-site signals costs them nothing.
   */
  function crossSite(req: IncomingMessage | Http2ServerRequest): string | undefined {
    const site = req.headers["sec-fetch-site"];
    if (site === "cross-site" || site === "same-site") return `Sec-Fetch-Site: ${site}`;
    const origin = req.headers.origin;
    if (origin === undefined || originAllowed(origin) || sameOrigin(origin, req)) return undefined;
    return "Origin not allowed (-corsOrigins)";
  }

  return { applyCors, crossSite };
}

/** An Origin naming the host the request was sent to: the signer's own page. */
function sameOrigin(origin: string, req: IncomingMessage | Http2ServerRequest): boolean {
  const host = req.headers.host ?? req.headers[":authority"];
  if (typeof host !== "string" || origin === "null") return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

/** True for a listen host that only loopback clients can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (h === "localhost") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  if (isIP(h) === 6) return h === "::1" || h.startsWith("::ffff:127.");
  return false;
}

const NO_HOSTS: ReadonlySet<string> = new Set();

/**
 * DNS-rebinding defence for a loopback bind: a page on evil.example whose name now resolves to
 * 127.0.0.1 still sends "Host: evil.example". Only loopback names and addresses (any port) pass,
 * and the names an operator lists with -allowedHosts (a proxy in front that forwards its own
 * Host); a request with no Host at all (not a browser) passes too.
 */
export function hostAllowedOnLoopback(req: IncomingMessage | Http2ServerRequest, allowedHosts: ReadonlySet<string> = NO_HOSTS): boolean {
  const host = req.headers.host ?? req.headers[":authority"];
  if (host === undefined) return true;
  if (typeof host !== "string") return false;
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d*$/, "");
  return isLoopbackHost(name) || allowedHosts.has(name.toLowerCase());
}
