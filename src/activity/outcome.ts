import { Code, ConnectError } from "@connectrpc/connect";
import { bufferView } from "../crypto/bytes.js";
import { PaymentError, type PaymentErrorKind } from "../payment/errors.js";

/** How a GenerateLivePayment call ended, whatever the transport. */
export const PAYMENT_OUTCOMES = [
  "paid",
  "nothing_due",
  "refresh",
  "price_exceeded",
  "client_error",
  "unavailable",
  "internal_error",
] as const;
export type PaymentOutcome = (typeof PAYMENT_OUTCOMES)[number];

const OUTCOME_OF_KIND: Record<PaymentErrorKind, PaymentOutcome> = {
  "invalid-argument": "client_error",
  "refresh-session": "refresh",
  "price-exceeded": "price_exceeded",
  "no-tickets": "nothing_due",
  "auth-rejected": "client_error",
  "auth-bad-price": "internal_error",
  unfunded: "unavailable",
  unavailable: "unavailable",
  internal: "internal_error",
};

/** The outcome of a call that threw: domain errors by kind, anything else is the signer's fault. */
export function outcomeOfError(err: unknown): PaymentOutcome {
  if (err instanceof PaymentError) return OUTCOME_OF_KIND[err.kind];
  // The Connect transport refuses a malformed request before the domain sees it.
  if (err instanceof ConnectError && err.code === Code.InvalidArgument) return "client_error";
  return "internal_error";
}

/**
 * The session id of a state the signer signed. encodeState always writes StateID first, so a
 * prefix scan finds it without parsing the JSON on the hot path; anything else gives undefined.
 */
export function stateIdOf(state: Uint8Array | undefined): string | undefined {
  if (!state) return undefined;
  const PREFIX = '{"StateID":"';
  if (state.length < PREFIX.length + 1) return undefined;
  for (let i = 0; i < PREFIX.length; i++) if (state[i] !== PREFIX.charCodeAt(i)) return undefined;
  const end = state.indexOf(0x22, PREFIX.length); // the closing quote
  if (end < 0 || end - PREFIX.length > 256) return undefined;
  return bufferView(state.subarray(PREFIX.length, end)).toString("latin1");
}

/**
 * Runs one GenerateLivePayment and tells the recorder how it ended, how long it took and which
 * session it belonged to. Both transports call the domain through this, so both are counted.
 */
export async function trackPayment<T extends { kind: "paid" | "nothing-due"; state: { state: Uint8Array } }>(
  recorder: { payment(outcome: PaymentOutcome, seconds: number, stateId?: string): void } | undefined,
  run: () => Promise<T>,
): Promise<T> {
  if (!recorder) return run();
  // run may throw before its first await (request parsing); that is counted too.
  const started = performance.now();
  try {
    const result = await run();
    const outcome = result.kind === "paid" ? "paid" : "nothing_due";
    recorder.payment(outcome, (performance.now() - started) / 1000, stateIdOf(result.state.state));
    return result;
  } catch (err) {
    recorder.payment(outcomeOfError(err), (performance.now() - started) / 1000);
    throw err;
  }
}
