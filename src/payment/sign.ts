import { toBase64 } from "../crypto/bytes.js";
import type { OrchestratorInfo } from "../../gen/net/lp_rpc_pb.js";
import type { ChainSnapshot } from "../chain/chain-view.js";
import { createSegCreds } from "../pm/seg-creds.js";
import { createPayment } from "../pm/ticket-batch.js";
import { signState, type PaymentState } from "../state/payment-state.js";
import type { TicketCount } from "./count-tickets.js";
import type { NothingDue, Paid, PaymentDeps } from "./generate-payment.js";
import type { Session } from "./open-session.js";

/** Step 15: everything checked; sign the tickets, the segment credentials and the state. */
export function sign(
  deps: PaymentDeps,
  info: OrchestratorInfo,
  session: Session,
  count: TicketCount,
  state: PaymentState,
  chain: ChainSnapshot,
): Paid {
  const { params } = session;
  const { payment, bytes: paymentBytes } = createPayment({
    params,
    expectedPrice: session.priceInfo,
    fallbackExpiration: { creationRound: chain.lastInitializedRound, creationRoundBlockHash: chain.lastInitializedBlockHash },
    lastNonce: session.lastNonce,
    count: count.numTickets,
    signer: deps.signer,
  });
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
