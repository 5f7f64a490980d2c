/**
 * -ethUrl as an endpoint: RPC URLs often carry secrets (user:password, an API key in the path
 * or query). fetch refuses URLs with userinfo, so it becomes a basic Authorization header, and
 * everything printed uses the redacted form (scheme://host[:port], "/…" when a path or query was
 * dropped).
 */

export interface EthEndpoint {
  /** The URL to POST to, without userinfo. Never log it: its path or query may hold an API key. */
  url: string;
  headers: Record<string, string>;
  /** Safe to print. */
  redacted: string;
}

/** The URL without credentials, path or query. */
export function redactEthUrl(ethUrl: string): string {
  try {
    const url = new URL(ethUrl);
    return `${url.protocol}//${url.host}${url.pathname !== "/" || url.search ? "/…" : ""}`;
  } catch {
    return "(invalid URL)";
  }
}

/** Throws an Error whose message never quotes the URL. */
export function parseEthEndpoint(ethUrl: string): EthEndpoint {
  let url: URL;
  try {
    url = new URL(ethUrl);
  } catch {
    throw new Error("not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`must be http(s), got ${url.protocol}`);
  const headers: Record<string, string> = {};
  if (url.username !== "" || url.password !== "") {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    url.username = "";
    url.password = "";
  }
  return { url: url.toString(), headers, redacted: redactEthUrl(ethUrl) };
}

/** Removes every occurrence of the secret-bearing URL (and its userinfo) from a message. */
export function scrubEthUrl(message: string, ethUrl: string): string {
  let out = message;
  const secrets = [ethUrl];
  try {
    const url = new URL(ethUrl);
    secrets.push(url.toString(), url.pathname + url.search, url.username, url.password);
    url.username = "";
    url.password = "";
    secrets.push(url.toString());
  } catch {
    // not a URL: only the raw text is scrubbed
  }
  for (const s of secrets.filter((s) => s.length > 1).sort((a, b) => b.length - a.length)) out = out.split(s).join("…");
  return out;
}
