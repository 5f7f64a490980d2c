/** Go's textproto.CanonicalMIMEHeaderKey: "signer-auth-id" → "Signer-Auth-Id". */
export function canonicalHeaderKey(key: string): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(key)) return key;
  return key.toLowerCase().replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

/** Node reads header bytes as latin1; Go keeps them as bytes, shown as UTF-8 (invalid → U+FFFD). */
function headerText(raw: string): string {
  return Buffer.from(raw, "latin1").toString("utf8");
}

/**
 * The request headers as Go's http.Header sees them: canonical names, every value in order,
 * no Host, no Transfer-Encoding (consumed by the server), and Cache-Control: no-cache added
 * for an HTTP/1.0-style Pragma: no-cache.
 */
export function goRequestHeaders(rawHeaders: string[]): Record<string, string[]> {
  // Names come from the wire: a null-prototype object, so "__proto__" is an ordinary header.
  const out: Record<string, string[]> = Object.create(null);
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (name.startsWith(":") || lower === "host" || lower === "transfer-encoding") continue;
    (out[canonicalHeaderKey(name)] ??= []).push(headerText(rawHeaders[i + 1]!));
  }
  if (out["Pragma"]?.[0] === "no-cache" && !out["Cache-Control"]) out["Cache-Control"] = ["no-cache"];
  return out;
}

/** The first value of a header, "" when absent (Go's Header.Get). */
export function firstHeader(rawHeaders: string[], name: string): string {
  const lower = name.toLowerCase();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === lower) return headerText(rawHeaders[i + 1]!);
  }
  return "";
}

/**
 * A header value as Go's server writes it: CR and LF become spaces, surrounding white space is
 * trimmed, and the UTF-8 bytes go out as they are (Node takes a latin1 string for raw bytes).
 * Other control characters, which Node cannot send, are dropped.
 */
export function goHeaderValue(value: string): string {
  const cleaned = value.replace(/[\r\n]/g, " ").trim().replace(/[\x00-\x08\x0a-\x1f\x7f]/g, "");
  return Buffer.from(cleaned, "utf8").toString("latin1");
}
