import { internal } from "./errors.js";
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

/**
 * What the extended body (-remoteSignerWebhookBody extended) adds: the call's charge, computed
 * before anything is signed, so a clearinghouse can reserve it before the state is released.
 */
export interface WebhookPayment {
  /** The fee this call debits, wei (rounded to an integer as the event's computed_fee). */
  computedFee: string;
  numTickets: number;
  /** Each ticket's face value, wei. */
  faceValue: string;
  /** Expected value of all the call's tickets, wei (rounded). */
  totalEv: string;
  manifestId: string;
  requestId: string;
  /** The id of the event this call writes when it succeeds. */
  eventId: string;
}

export interface AuthWebhook {
  /** POSTs {headers, state} and returns the decision; a failed call throws an internal PaymentError. */
  authorize(body: { headers: Record<string, string[]>; stateJson: Uint8Array; payment?: WebhookPayment }): Promise<AuthDecision>;
  /** The extended body is on: the caller passes `payment`. */
  readonly extended?: boolean;
}

export interface AuthWebhookOptions {
  url: string;
  headers: Record<string, string>;
  timeoutMs?: number;
  /** The timer that aborts a slow call (default AbortSignal.timeout); tests fire it by hand. */
  timeoutSignal?: (ms: number) => AbortSignal;
  /** Largest reply read (the reply is a few hundred bytes); a longer one is an error. */
  maxResponseBytes?: number;
  /** "default": go-livepeer's {headers, state}; "extended": plus a "payment" object (WebhookPayment). */
  body?: "default" | "extended";
}

/** The default cap on the webhook's reply: far above any real verdict (a few hundred bytes). */
export const MAX_REPLY_BYTES = 64 * 1024;

/** Decodes the webhook reply with Go's rules; a malformed reply is an internal PaymentError. */
export function parseAuthReply(text: string): AuthDecision {
  let reply;
  try {
    reply = readAuthReplyJson(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError || err instanceof JsonTypeError) {
      throw internal(`signer auth invalid response: ${err.message}`, err);
    }
    throw err;
  }
  const { status, reason, expiry, authId, maxPrice } = reply;
  if (status === undefined || status <= 0n) throw internal("signer auth invalid status");
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
export function createAuthWebhook({
  url,
  headers,
  timeoutMs = 5000,
  timeoutSignal = (ms) => AbortSignal.timeout(ms),
  maxResponseBytes = MAX_REPLY_BYTES,
  body: bodyForm = "default",
}: AuthWebhookOptions): AuthWebhook {
  return {
    extended: bodyForm === "extended",
    async authorize({ headers: requestHeaders, stateJson, payment }) {
      const extra = bodyForm === "extended" && payment ? `,"payment":${encodePayment(payment)}` : "";
      const body = `{"headers":${encodeHeaders(requestHeaders)},"state":${Buffer.from(stateJson).toString("utf8")}${extra}}`;
      // Redirects are not followed (unlike Go's default client): a 3xx would re-send the body and
      // the configured secret headers to another host and trust its verdict. It is an error status.
      const abort = new AbortController();
      const signal = AbortSignal.any([timeoutSignal(timeoutMs), abort.signal]);
      let res: Response;
      try {
        res = await fetch(url, {
          method: "POST",
          // Configured headers are set last, as the reference does, so they may override.
          headers: { "Content-Type": "application/json", ...headers },
          body,
          signal,
          redirect: "manual",
        });
      } catch (err) {
        throw internal(`failed to call remote signer webhook: ${(err as Error).message}`, err);
      }
      let text: string;
      try {
        text = await readCapped(res, maxResponseBytes);
      } catch (err) {
        throw internal(`failed to read signer auth response: ${(err as Error).message}`, err);
      } finally {
        abort.abort(); // whatever is left of the reply is not wanted
      }
      if (res.status !== 200) throw internal(`signer auth error status ${res.status}`);
      return parseAuthReply(text);
    },
  };
}

/** The reply body as text, read as it streams in and abandoned once past `cap` bytes. */
async function readCapped(res: Response, cap: number): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > cap) throw new Error(`reply larger than ${cap} bytes`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      size += chunk.byteLength;
      if (size > cap) throw new Error(`reply larger than ${cap} bytes`);
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Go's json.Marshal of http.Header: keys sorted, values as arrays. */
function encodeHeaders(headers: Record<string, string[]>): string {
  const keys = Object.keys(headers).sort();
  return `{${keys.map((k) => `${goJsonString(k)}:[${headers[k]!.map(goJsonString).join(",")}]`).join(",")}}`;
}

/** The extended body's "payment" object; amounts are decimal strings (wei), as in the event. */
function encodePayment(p: WebhookPayment): string {
  return (
    `{"computed_fee":"${p.computedFee}","num_tickets":${p.numTickets},"face_value":"${p.faceValue}","total_ev":"${p.totalEv}"` +
    `,"manifest_id":${goJsonString(p.manifestId)},"request_id":${goJsonString(p.requestId)},"event_id":${goJsonString(p.eventId)}}`
  );
}
