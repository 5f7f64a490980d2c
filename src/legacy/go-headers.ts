import type { IncomingHttpHeaders } from "node:http";

/** Go's textproto.CanonicalMIMEHeaderKey: "signer-auth-id" → "Signer-Auth-Id". */
export function canonicalHeaderKey(key: string): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(key)) return key;
  return key.toLowerCase().replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

/** The request headers as Go's http.Header sees them: canonical names, every value, no Host. */
export function goRequestHeaders(rawHeaders: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.startsWith(":") || name.toLowerCase() === "host") continue;
    (out[canonicalHeaderKey(name)] ??= []).push(rawHeaders[i + 1]!);
  }
  return out;
}

/** The first value of a header, "" when absent (Go's Header.Get). */
export function firstHeader(headers: IncomingHttpHeaders | Headers, name: string): string {
  if (headers instanceof Headers) return headers.get(name)?.split(",")[0]?.trim() ?? "";
  const v = headers[name.toLowerCase()];
  return (Array.isArray(v) ? v[0] : v) ?? "";
}
