import { Code, ConnectError } from "@connectrpc/connect";
import { PriceExceededDetailSchema, RefreshSessionDetailSchema } from "../../gen/livepeer/signer/v1/signer_pb.js";
import type { PaymentError } from "../payment/errors.js";

/** The one table from PaymentError kinds to Connect codes and typed details. */
export function toConnectError(err: PaymentError): ConnectError {
  const f = err.failure;
  switch (f.kind) {
    case "invalid-argument":
      return new ConnectError(err.message, Code.InvalidArgument, undefined, undefined, err);
    case "refresh-session":
      return new ConnectError(`${err.message}: ${f.reason}`, Code.FailedPrecondition, undefined, [
        { desc: RefreshSessionDetailSchema, value: { orchestratorUrl: f.orchestratorUrl, reason: f.reason } },
      ]);
    case "price-exceeded":
      return new ConnectError(err.message, Code.ResourceExhausted, undefined, [
        { desc: PriceExceededDetailSchema, value: { source: f.source, price: f.price.toString(), ceiling: f.ceiling.toString() } },
      ]);
    case "no-tickets":
      return new ConnectError("no tickets: the ticket params carry no value (faceValue or winProb is 0)", Code.FailedPrecondition);
    case "auth-rejected": {
      const code = f.status === 401 ? Code.Unauthenticated : f.status === 429 ? Code.ResourceExhausted : Code.PermissionDenied;
      return new ConnectError(err.message, code);
    }
    case "auth-bad-price":
      return new ConnectError("auth webhook returned an invalid maxPrice", Code.Internal);
    case "unfunded":
      // The signer's funds, not the request: the operator must top up the TicketBroker.
      return new ConnectError(err.message, Code.FailedPrecondition, undefined, undefined, err);
    case "unavailable":
      // A cause (a key backend's reason) goes to the log, not to the client.
      return new ConnectError(err.message, Code.Unavailable, undefined, undefined, err.cause ?? err);
    case "internal":
      // The cause goes to the log, not to the client.
      return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
  }
}
