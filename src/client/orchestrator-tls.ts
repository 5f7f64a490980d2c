/**
 * How a Node gateway trusts an orchestrator's TLS certificate. go-livepeer orchestrators serve
 * self-signed certificates (go-livepeer's gateway verifies none); like the Livepeer Python
 * gateway, the default here pins the certificate first seen for each host:port (trust on first
 * use) and refuses a different one later. The check runs before any request is written.
 */
import { isIP } from "node:net";
import tls from "node:tls";

export type OrchestratorTls =
  /** Pin the first certificate seen per host:port (default; `pins` defaults to one map per process). */
  | { trust: "first-use"; pins?: Map<string, string> }
  /** Only a certificate with this SHA-256 fingerprint (hex, colons optional). */
  | { trust: "pinned"; sha256: string }
  /** Normal verification against the system roots or `ca`. */
  | { trust: "ca"; ca?: string | Buffer }
  /** Any certificate, as go-livepeer's gateway does. */
  | { trust: "any" };

export class OrchestratorCertificateError extends Error {
  override name = "OrchestratorCertificateError";
}

const processPins = new Map<string, string>();
const normalize = (fp: string) => fp.replaceAll(":", "").toLowerCase();

/** Forgets the first-use pin of an orchestrator (e.g. it restarted with a new self-signed certificate). */
export function forgetPinnedCertificate(orchestratorUrl: string, pins: Map<string, string> = processPins): void {
  pins.delete(new URL(orchestratorUrl).host);
}

/**
 * Opens a TLS connection to url's host with the given ALPN protocols. For trust modes other than
 * "ca", a listener registered first checks the certificate on secureConnect and destroys the
 * socket with OrchestratorCertificateError when it does not match.
 */
function connectOrchestratorTls(url: URL, policy: OrchestratorTls = { trust: "first-use" }, alpn: string[]): tls.TLSSocket {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || 443);
  const socket = tls.connect({
    host,
    port,
    // No SNI for IP addresses (not allowed by RFC 6066).
    ...(isIP(host) ? {} : { servername: host }),
    ALPNProtocols: alpn,
    rejectUnauthorized: policy.trust === "ca",
    ...(policy.trust === "ca" && policy.ca ? { ca: policy.ca } : {}),
  });
  if (policy.trust === "ca" || policy.trust === "any") return socket;
  socket.once("secureConnect", () => {
    const seen = normalize(socket.getPeerCertificate().fingerprint256 ?? "");
    let expected: string;
    if (policy.trust === "pinned") expected = normalize(policy.sha256);
    else {
      const pins = policy.pins ?? processPins;
      expected = pins.get(url.host) ?? seen;
      pins.set(url.host, expected);
    }
    if (seen === "" || seen !== expected) {
      socket.destroy(
        new OrchestratorCertificateError(
          `orchestrator ${url.host}: certificate sha256 ${seen || "(none)"} does not match the pinned ${expected}` +
            (policy.trust === "first-use" ? " (restarted with a new certificate? forgetPinnedCertificate() trusts the new one)" : ""),
        ),
      );
    }
  });
  return socket;
}

/**
 * Resolves once the TLS handshake and the certificate check passed; only then is the socket
 * handed to HTTP/1.1 or HTTP/2, so nothing is sent to an orchestrator that fails the check.
 */
export function verifiedTlsSocket(url: URL, policy: OrchestratorTls | undefined, alpn: string[], timeoutMs: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connectOrchestratorTls(url, policy, alpn);
    const timer = setTimeout(() => socket.destroy(new Error(`orchestrator ${url.host}: TLS handshake timed out`)), timeoutMs);
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // Registered after the check: the socket is destroyed already if the check failed.
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      if (!socket.destroyed) resolve(socket);
    });
  });
}
