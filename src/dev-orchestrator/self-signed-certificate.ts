import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { generate as generateCertificate } from "selfsigned";

/** A throwaway self-signed certificate for `host` (an IP address or a DNS name), valid for a week. */
export async function selfSignedCertificate(host: string): Promise<{ cert: string; key: string; sha256: string }> {
  const isIp = isIP(host) !== 0;
  const pems = await generateCertificate([{ name: "commonName", value: host }], {
    keyType: "ec",
    // SHA-256: selfsigned defaults to SHA-1, which rustls-based clients (Python connectrpc) refuse.
    algorithm: "sha256",
    curve: "P-256",
    notAfterDate: new Date(Date.now() + 7 * 24 * 3600 * 1000),
    extensions: [{ name: "subjectAltName", altNames: [isIp ? { type: 7, ip: host } : { type: 2, value: host }] }],
  });
  return { cert: pems.cert, key: pems.private, sha256: new X509Certificate(pems.cert).fingerprint256 };
}
