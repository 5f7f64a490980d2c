import type { PaymentError } from "../payment/errors.js";

export const HTTP_STATUS_REFRESH_SESSION = 480;
export const HTTP_STATUS_PRICE_EXCEEDED = 481;
export const HTTP_STATUS_NO_TICKETS = 482;
export const ORCHESTRATOR_URL_HEADER = "Livepeer-Orchestrator-URL";

/** What the legacy endpoint answers for a PaymentError: status, error message, extra headers. */
export interface LegacyError {
  status: number;
  message: string;
  headers: Record<string, string>;
}

/** The one table from PaymentError kinds to the reference's HTTP statuses (its envelope is writeJsonError's). */
export function legacyError(err: PaymentError): LegacyError {
  const f = err.failure;
  const answer = (status: number, headers: Record<string, string> = {}) => ({ status, message: err.message, headers });
  switch (f.kind) {
    case "invalid-argument":
      return answer(400);
    case "refresh-session":
      return answer(HTTP_STATUS_REFRESH_SESSION, { [ORCHESTRATOR_URL_HEADER]: f.orchestratorUrl });
    case "price-exceeded":
      return answer(HTTP_STATUS_PRICE_EXCEEDED);
    case "no-tickets":
      return answer(HTTP_STATUS_NO_TICKETS);
    case "auth-rejected":
      // The webhook's status is passed through as the reference does, but only a final one (Go would
      // send a 1xx as an informational response and then an implicit 200).
      return answer(f.status >= 200 && f.status <= 999 ? f.status : 500);
    case "auth-bad-price":
      return answer(502);
    case "unfunded":
      // The reference: 400 "remote signer could not check whether to refresh session: no sender reserve".
      return answer(400);
    case "unavailable":
      return answer(503);
    case "internal":
      return answer(500);
  }
}
