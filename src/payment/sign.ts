import { toBase64 } from "../crypto/bytes.js";
import type { OrchestratorInfo } from "../../gen/net/lp_rpc_pb.js";
import type { ChainSnapshot } from "../chain/chain-view.js";
import { createSegCreds } from "../pm/seg-creds.js";
import { createPayment, createPaymentInSlices, type CreatePaymentReturnType } from "../pm/ticket-batch.js";
import { signState, type PaymentState } from "../state/payment-state.js";
import type { TicketCount } from "./count-tickets.js";
import type { NothingDue, Paid, PaymentDeps } from "./generate-payment.js";
import type { Session } from "./open-session.js";

/**
 * Tickets signed between two turns of the event loop in a large batch: about half a millisecond,
 * so a gateway's one-ticket call waits little behind another's 100-ticket one.
 */
export const SIGNING_SLICE = 8;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Step 15: everything checked; sign the tickets, the segment credentials and the state. A batch
 * larger than SIGNING_SLICE is signed in slices, letting other requests through between them.
 */
export function sign(
  deps: PaymentDeps,
  info: OrchestratorInfo,
  session: Session,
  count: TicketCount,
  state: PaymentState,
  chain: ChainSnapshot,
): Paid | Promise<Paid> {
  const batch = {
    params: session.params,
    expectedPrice: session.priceInfo,
    fallbackExpiration: { creationRound: chain.lastInitializedRound, creationRoundBlockHash: chain.lastInitializedBlockHash },
    lastNonce: session.lastNonce,
    count: count.numTickets,
    signer: deps.signer,
  };
  if (count.numTickets <= SIGNING_SLICE) return finishSigning(deps, info, session, count, state, createPayment(batch));
  return createPaymentInSlices(batch, SIGNING_SLICE, nextTurn).then((signed) => finishSigning(deps, info, session, count, state, signed));
}

function finishSigning(
  deps: PaymentDeps,
  info: OrchestratorInfo,
  session: Session,
  count: TicketCount,
  state: PaymentState,
  { payment, bytes: paymentBytes }: CreatePaymentReturnType,
): Paid {
  const { params } = session;
  const { segCreds, bytes: segmentBytes } = createSegCreds({
    manifestId: session.manifestId,
    capabilities: session.capabilities,
    authToken: info.authToken,
    signer: deps.signer,
  });
  deps.onTicketsSigned?.({ numTickets: count.numTickets, faceValue: params.faceValue, ev: count.ev });
  return {
    kind: "paid",
    payment,
    segCreds,
    paymentHeader: toBase64(paymentBytes),
    segmentHeader: toBase64(segmentBytes),
    state: signState(state, deps.signer, deps.issuedStates, count.balance),
    numTickets: count.numTickets,
    units: count.units,
    fee: count.fee,
    balance: count.balance,
  };
}

/** The credit covers the call: only the advanced state (elapsed time debited) is signed. */
export function signNothingDue(deps: PaymentDeps, session: Session, count: TicketCount, now: bigint): NothingDue {
  const state = { ...session.state, balance: count.balance.toString(), lastUpdate: now };
  return { kind: "nothing-due", state: signState(state, deps.signer, deps.issuedStates, count.balance), units: count.units, fee: count.fee, balance: count.balance };
}
