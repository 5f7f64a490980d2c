import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";

/**
 * The operator dashboard's static files (web/dist, built by `npm run build:web` and committed),
 * read into memory once at start. A request is answered only when its path is exactly one of
 * those files, so no request path ever reaches the file system (no traversal to guard against).
 */

export const DASHBOARD_PATH = "/dashboard/";

/**
 * The page loads its script, style and icon from this origin and talks to this origin only
 * (gRPC-web); nothing inline, no frames, no forms.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  cache: string;
}

/** Finds web/dist from this module, whether run from src/ (tsx) or from a compiled dist/ tree. */
export function findDashboardDir(from = dirname(fileURLToPath(import.meta.url))): string | undefined {
  let dir = from;
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "web", "dist");
    if (existsSync(join(candidate, "index.html"))) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

function loadAssets(root: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const file = join(dir, name);
      if (statSync(file).isDirectory()) {
        walk(file);
        continue;
      }
      const type = TYPES[extname(name)];
      if (!type) continue;
      const body = readFileSync(file);
      const path = DASHBOARD_PATH + relative(root, file).split(sep).join("/");
      // Vite's hashed file names under assets/ never change content: cache them for good.
      const hashed = path.startsWith(`${DASHBOARD_PATH}assets/`);
      assets.set(path, {
        body,
        type,
        etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
        cache: hashed ? "public, max-age=31536000, immutable" : "no-cache",
      });
    }
  };
  walk(root);
  const index = assets.get(`${DASHBOARD_PATH}index.html`);
  if (index) assets.set(DASHBOARD_PATH, index);
  return assets;
}

type DashboardRequest = IncomingMessage | Http2ServerRequest;
type DashboardResponse = ServerResponse | Http2ServerResponse;

/**
 * GET/HEAD handler for "/" (redirects), "/dashboard" (redirects) and "/dashboard/…". Returns false
 * for any other path, so the caller's routing goes on. Unknown files under /dashboard/ are 404.
 */
export function createDashboardHandler(root: string | undefined = findDashboardDir()) {
  const assets = root && existsSync(root) ? loadAssets(root) : new Map<string, Asset>();
  return (req: DashboardRequest, res: DashboardResponse): boolean => {
    const path = (req.url ?? "").split("?")[0]!;
    if (path !== "/" && path !== "/dashboard" && !path.startsWith(DASHBOARD_PATH)) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" });
      res.end("method not allowed\n");
      return true;
    }
    if (path === "/" || path === "/dashboard") {
      res.writeHead(302, { Location: DASHBOARD_PATH, "Cache-Control": "no-cache", "Content-Type": "text/plain; charset=utf-8" });
      res.end(`see ${DASHBOARD_PATH}\n`);
      return true;
    }
    const asset = assets.get(path);
    const common = {
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
      "Cross-Origin-Resource-Policy": "same-origin",
    };
    if (!asset) {
      const msg = assets.size === 0 ? "dashboard not built: run npm run build:web\n" : "404 page not found\n";
      res.writeHead(404, { ...common, "Content-Type": "text/plain; charset=utf-8" });
      res.end(msg);
      return true;
    }
    const headers: Record<string, string> = {
      ...common,
      "Content-Type": asset.type,
      "Cache-Control": asset.cache,
      ETag: asset.etag,
    };
    if (asset.type.startsWith("text/html")) {
      headers["Content-Security-Policy"] = DASHBOARD_CSP;
      headers["X-Frame-Options"] = "DENY";
    }
    if (req.headers["if-none-match"] === asset.etag) {
      res.writeHead(304, headers);
      res.end(Buffer.alloc(0));
      return true;
    }
    res.writeHead(200, { ...headers, "Content-Length": String(asset.body.length) });
    res.end(req.method === "HEAD" ? Buffer.alloc(0) : asset.body);
    return true;
  };
}
