import { goJsonString, JsonSyntaxError, JsonTypeError } from "../go/json.js";
import { readAuthReplyJson } from "../wire/auth-reply.js";
import type { MaxPriceInput } from "../wire/max-price.js";

/** The webhook's verdict, as the reference reads it. */
export interface AuthDecision {
  status: number;
  reason: string;
  expiry: bigint;
  authId: string;
  maxPrice: MaxPriceInput | undefined;
}

/** The webhook could not be asked or answered nonsense (legacy 500). */
export class AuthWebhookError extends Error {
  override name = "AuthWebhookError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface AuthWebhook {
  /** POSTs {headers, state} and returns the decision; throws AuthWebhookError. */
  authorize(body: { headers: Record<string, string[]>; stateJson: Uint8Array }): Promise<AuthDecision>;
}

export interface AuthWebhookOptions {
  url: string;
  headers: Record<string, string>;
  timeoutMs?: number;
  /** Largest reply read, to bound memory. */
  maxResponseBytes?: number;
}

/** Decodes the webhook reply with Go's rules; a malformed reply is an AuthWebhookError. */
export function parseAuthReply(text: string): AuthDecision {
  let reply;
  try {
    reply = readAuthReplyJson(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError || err instanceof JsonTypeError) {
      throw new AuthWebhookError(`signer auth invalid response: ${err.message}`, { cause: err });
    }
    throw err;
  }
  const { status, reason, expiry, authId, maxPrice } = reply;
  if (status === undefined || status <= 0n) throw new AuthWebhookError("signer auth invalid status");
  const shown = Number(status);
  return {
    status: shown,
    reason: shown !== 200 && reason === "" ? `signer auth rejected request with status ${shown}` : reason,
    expiry,
    authId,
    maxPrice,
  };
}

/** The reference's auth webhook client: POST JSON, configured headers, 5 s timeout, status 200 required. */
export function createAuthWebhook({ url, headers, timeoutMs = 5000, maxResponseBytes = 1 << 20 }: AuthWebhookOptions): AuthWebhook {
  return {
    async authorize({ headers: requestHeaders, stateJson }) {
      const body = `{"headers":${encodeHeaders(requestHeaders)},"state":${Buffer.from(stateJson).toString("utf8")}}`;
      let res: Response;
      let text: string;
      try {
        res = await fetch(url, {
          method: "POST",
          // Configured headers are set last, as the reference does, so they may override.
          headers: { "Content-Type": "application/json", ...headers },
          body,
          signal: AbortSignal.timeout(timeoutMs),
          redirect: "follow",
        });
        const buf = await res.arrayBuffer();
        if (buf.byteLength > maxResponseBytes) throw new Error(`reply larger than ${maxResponseBytes} bytes`);
        text = Buffer.from(buf).toString("utf8");
      } catch (err) {
        throw new AuthWebhookError(`failed to call remote signer webhook: ${(err as Error).message}`, { cause: err });
      }
      if (res.status !== 200) throw new AuthWebhookError(`signer auth error status ${res.status}`);
      return parseAuthReply(text);
    },
  };
}

/** Go's json.Marshal of http.Header: keys sorted, values as arrays. */
function encodeHeaders(headers: Record<string, string[]>): string {
  const keys = Object.keys(headers).sort();
  return `{${keys.map((k) => `${goJsonString(k)}:[${headers[k]!.map(goJsonString).join(",")}]`).join(",")}}`;
}
