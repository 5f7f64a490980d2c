import { toBase64 } from "../crypto/bytes.js";
import type { EthSigner } from "../crypto/eth-sign.js";
import { isRemoteSigner, type RemoteEthSigner } from "../crypto/remote-signer.js";
import type { OrchestratorInfo } from "../../gen/net/lp_rpc_pb.js";
import type { ChainSnapshot } from "../chain/chain-view.js";
import { KeyBackendUnavailableError } from "../keys/key-backend.js";
import { createSegCreds, segmentSignatureAsync } from "../pm/seg-creds.js";
import { createPayment, createPaymentInSlices, planPayment, type CreatePaymentReturnType } from "../pm/ticket-batch.js";
import { planState, signState, type PaymentState, type SignedState } from "../state/payment-state.js";
import type { TicketCount } from "./count-tickets.js";
import { unavailable } from "./errors.js";
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
 * With a remote key every signature of the call is requested at once, and the call fails as
 * unavailable, returning nothing, unless all of them come back.
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
  };
  const signer = deps.signer;
  if (isRemoteSigner(signer)) return signRemotely(deps, signer, info, session, count, state, batch);
  const local = { ...batch, signer };
  if (count.numTickets <= SIGNING_SLICE) {
    const tickets = createPayment(local);
    return paid(deps, session, count, tickets, segCreds(info, session, { signer }), signState(state, signer, deps.issuedStates, count.balance));
  }
  return createPaymentInSlices(local, SIGNING_SLICE, nextTurn).then((tickets) =>
    paid(deps, session, count, tickets, segCreds(info, session, { signer }), signState(state, signer, deps.issuedStates, count.balance)),
  );
}

async function signRemotely(
  deps: PaymentDeps,
  signer: RemoteEthSigner,
  info: OrchestratorInfo,
  session: Session,
  count: TicketCount,
  state: PaymentState,
  batch: Omit<Parameters<typeof planPayment>[0], "sender">,
): Promise<Paid> {
  const tickets = planPayment({ ...batch, sender: signer.address });
  // Remembered as issued by finish(), once every signature of the call is in.
  const next = planState(state, deps.issuedStates, count.balance);
  const [ticketSigs, segSig, stateSig] = await remotely(
    Promise.all([
      Promise.all(tickets.hashes.map((hash) => signer.signAsync(hash))),
      segmentSignatureAsync(signer, session.manifestId),
      signer.signAsync(next.bytes),
    ]),
  );
  return paid(deps, session, count, tickets.finish(ticketSigs), segCreds(info, session, { sig: segSig }), next.finish(stateSig));
}

/**
 * A remote key's failure is the call's unavailability (legacy 503, Connect UNAVAILABLE). The
 * gateway is told no more than that; the backend's own reason (its host, the key's alias) goes
 * to the signer's log as the error's cause.
 */
async function remotely<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof KeyBackendUnavailableError) throw unavailable("the signing key's backend is unavailable", err);
    throw err;
  }
}

function segCreds(info: OrchestratorInfo, session: Session, by: { signer: EthSigner } | { sig: Uint8Array }) {
  return createSegCreds({ manifestId: session.manifestId, capabilities: session.capabilities, authToken: info.authToken, ...by });
}

function paid(
  deps: PaymentDeps,
  session: Session,
  count: TicketCount,
  { payment, bytes: paymentBytes }: CreatePaymentReturnType,
  { segCreds, bytes: segmentBytes }: ReturnType<typeof createSegCreds>,
  state: SignedState,
): Paid {
  deps.onTicketsSigned?.({ numTickets: count.numTickets, faceValue: session.params.faceValue, ev: count.ev });
  return {
    kind: "paid",
    payment,
    segCreds,
    paymentHeader: toBase64(paymentBytes),
    segmentHeader: toBase64(segmentBytes),
    state,
    numTickets: count.numTickets,
    units: count.units,
    fee: count.fee,
    balance: count.balance,
  };
}

/** The state a nothing-due call signs: the session's, with the elapsed time debited. */
export function nothingDueState(session: Session, count: TicketCount, now: bigint): PaymentState {
  return { ...session.state, balance: count.balance.toString(), lastUpdate: now };
}

/** The credit covers the call: only the advanced state (elapsed time debited) is signed. */
export function signNothingDue(deps: PaymentDeps, session: Session, count: TicketCount, now: bigint): NothingDue | Promise<NothingDue> {
  const state = nothingDueState(session, count, now);
  const nothingDue = (signed: SignedState): NothingDue => ({ kind: "nothing-due", state: signed, units: count.units, fee: count.fee, balance: count.balance });
  const signer = deps.signer;
  if (!isRemoteSigner(signer)) return nothingDue(signState(state, signer, deps.issuedStates, count.balance));
  const next = planState(state, deps.issuedStates, count.balance);
  return remotely(signer.signAsync(next.bytes)).then((sig) => nothingDue(next.finish(sig)));
}
