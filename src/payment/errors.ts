import type { Rat } from "../math/rat.js";
import type { SignedState } from "../state/payment-state.js";

/**
 * Every way GenerateLivePayment can fail. Each transport maps these once: src/service to
 * Connect codes with typed details, src/legacy to the reference's HTTP statuses.
 */
export abstract class PaymentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Bad input (legacy 400). The message names the field and the reason. */
export class InvalidRequestError extends PaymentError {
  override name = "InvalidRequestError";
}

/** The orchestrator's auth token or ticket params expired: get fresh OrchestratorInfo (legacy 480). */
export class RefreshSessionError extends PaymentError {
  override name = "RefreshSessionError";
  constructor(readonly orchestratorUrl: string, readonly reason: string) {
    super("refresh session for remote signer");
  }
}

/** The orchestrator's price is above a ceiling (legacy 481). */
export class PriceExceededError extends PaymentError {
  override name = "PriceExceededError";
  constructor(readonly source: string, readonly price: Rat, readonly ceiling: Rat, message?: string) {
    super(message ?? `orchestrator price ${price.toFixed(3)} exceeds ${source} ceiling ${ceiling.toFixed(3)}`);
  }
}

/**
 * Existing credit covers this call (legacy 482). `state` is the advanced state (elapsed time
 * debited) when lpsigner could account the call, undefined when the params carry no value.
 */
export class NoTicketsNeededError extends PaymentError {
  override name = "NoTicketsNeededError";
  constructor(
    readonly state: SignedState | undefined,
    readonly accounting?: { units: bigint; fee: Rat; balance: Rat },
  ) {
    super("no tickets");
  }
}

/** The auth webhook refused the request with its own status and reason. */
export class AuthRejectedError extends PaymentError {
  override name = "AuthRejectedError";
  constructor(readonly status: number, reason: string) {
    super(reason);
  }
}

/** The auth webhook answered with a malformed maxPrice (legacy 502). */
export class AuthBadPriceError extends PaymentError {
  override name = "AuthBadPriceError";
}

/** The signer could not complete the request (legacy 500; the message is not shown to clients). */
export class InternalPaymentError extends PaymentError {
  override name = "InternalPaymentError";
}

/** The chain view is too stale to sign against (legacy 503). */
export class SignerUnavailableError extends PaymentError {
  override name = "SignerUnavailableError";
}
