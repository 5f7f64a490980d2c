import type { Rat } from "../math/rat.js";

/**
 * Every way GenerateLivePayment can fail, with what a transport needs to answer it. Each
 * transport maps a kind once, in one table: src/service/payment-errors.ts (Connect code and
 * typed detail) and src/legacy/payment-status.ts (the reference's HTTP status and envelope).
 */
export type PaymentFailure =
  /** Bad input; the message names the field and the reason. */
  | { kind: "invalid-argument" }
  /** The orchestrator's auth token, ticket params or nonce range is used up: get fresh OrchestratorInfo. */
  | { kind: "refresh-session"; orchestratorUrl: string; reason: string }
  /** The orchestrator's price is above a ceiling. */
  | { kind: "price-exceeded"; source: string; price: Rat; ceiling: Rat }
  /** No ticket can be signed and no state advanced: the params carry no value, or the count wraps. */
  | { kind: "no-tickets" }
  /** The auth webhook refused the request with its own status and reason. */
  | { kind: "auth-rejected"; status: number }
  /** The auth webhook answered with a malformed maxPrice. */
  | { kind: "auth-bad-price" }
  /** The signer's TicketBroker deposit or reserve cannot back tickets (zero, or unlocking). */
  | { kind: "unfunded" }
  /** The chain view is too stale to sign against. */
  | { kind: "unavailable" }
  /** The signer could not complete the request; the message is logged, never shown. */
  | { kind: "internal" };

export type PaymentErrorKind = PaymentFailure["kind"];

export class PaymentError extends Error {
  override name = "PaymentError";
  constructor(
    readonly failure: PaymentFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get kind(): PaymentErrorKind {
    return this.failure.kind;
  }
}

export const invalidArgument = (message: string, cause?: unknown) =>
  new PaymentError({ kind: "invalid-argument" }, message, { cause });

/** The reference's one message for every refresh; the reason goes to the typed detail. */
export const refreshSession = (orchestratorUrl: string, reason: string) =>
  new PaymentError({ kind: "refresh-session", orchestratorUrl, reason }, "refresh session for remote signer");

export const priceExceeded = (source: string, price: Rat, ceiling: Rat, message?: string) =>
  new PaymentError(
    { kind: "price-exceeded", source, price, ceiling },
    message ?? `orchestrator price ${price.toFixed(3)} exceeds ${source} ceiling ${ceiling.toFixed(3)}`,
  );

export const noTickets = () => new PaymentError({ kind: "no-tickets" }, "no tickets");

export const authRejected = (status: number, reason: string) => new PaymentError({ kind: "auth-rejected", status }, reason);

export const authBadPrice = (message: string) => new PaymentError({ kind: "auth-bad-price" }, message);

export const unfunded = (message: string) => new PaymentError({ kind: "unfunded" }, message);

export const unavailable = (message: string, cause?: unknown) => new PaymentError({ kind: "unavailable" }, message, { cause });

export const internal = (message: string, cause?: unknown) => new PaymentError({ kind: "internal" }, message, { cause });
