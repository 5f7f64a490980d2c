import type { OrchestratorInfo, Payment, SegData } from "../../gen/net/lp_rpc_pb.js";
import type { ChainSnapshot, ChainView } from "../chain/chain-view.js";
import { nowNs, type Clock } from "../clock.js";
import type { AnySigner } from "../crypto/remote-signer.js";
import { Rat } from "../math/rat.js";
import { randomHexId } from "../crypto/random-id.js";
import type { PaymentState } from "../state/payment-state.js";
import type { WebhookPayment } from "./auth-webhook.js";
import type { TicketCount } from "./count-tickets.js";
import type { Usage } from "./measure-usage.js";
import type { Session } from "./open-session.js";
import { paymentEventId } from "../events/payment-event.js";
import type { SenderLimits } from "../pm/sender-validation.js";
import type { RequestedJobType } from "../pricing/job-type.js";
import type { PriceLimits } from "../pricing/price-limits.js";
import type { IssuedStates } from "../state/issued-states.js";
import type { SignedState } from "../state/payment-state.js";
import type { MaxPriceInput } from "../wire/max-price.js";
import type { AuthWebhook } from "./auth-webhook.js";
import { authorize } from "./authorize.js";
import { checkPrice } from "./check-price.js";
import { checkRefresh } from "./check-refresh.js";
import { countTickets } from "./count-tickets.js";
import { measureUsage } from "./measure-usage.js";
import { openSession } from "./open-session.js";
import type { DecodedCapabilities } from "./request-capabilities.js";
import { nothingDueState, sign, signNothingDue } from "./sign.js";
import { recordPaymentEvent, type PaymentEvents } from "../events/record.js";

/** Everything GenerateLivePayment depends on, passed in so tests control each part. */
export interface PaymentDeps {
  /** The key: in this process (keystore), or behind a KeyBackend (HSM, KMS, a JSON-RPC signer). */
  signer: AnySigner;
  chain: ChainView;
  limits: SenderLimits;
  prices: PriceLimits;
  /** Wall clock: LastUpdate travels in the state between replicas. */
  clock: Clock;
  webhook: AuthWebhook | undefined;
  /** States this process signed: their return skips the signature recovery and the parse. */
  issuedStates?: IssuedStates;
  /** Random session ids; the reference uses 8 lowercase hex characters. */
  randomId?: () => string;
  /** -byoc (type byoc accepted) and -byocPerCapPricing; unset: both off, master's behaviour. */
  byoc?: { enabled: boolean; perCapPricing: boolean };
  /** Told about each signed batch (for metrics). */
  onTicketsSigned?: (batch: { numTickets: number; faceValue: bigint; ev: Rat }) => void;
  /**
   * The event outbox: each paid or nothing-due call's event is on disk before the call returns,
   * or the call fails as unavailable with nothing else done. Unset: no events.
   */
  events?: PaymentEvents;
}

/** A transport-neutral GenerateLivePayment request; the transport has decoded the protobufs. */
export interface PaymentRequest {
  orchestrator: OrchestratorInfo;
  /** undefined on the first call of a session */
  state: SignedState | undefined;
  manifestId: string;
  app: string;
  type: RequestedJobType;
  inPixels: bigint;
  maxPrice: MaxPriceInput | undefined;
  /** Decoded (and bounded) by the transport; an error is raised at the reference's step. */
  capabilities: DecodedCapabilities;
  /**
   * The incoming request's headers (canonical names), forwarded to the auth webhook; built only
   * when one is called, since most signers have none.
   */
  headers: () => Record<string, string[]>;
  /** The Signer-Auth-Id request header, "" when absent. */
  authIdHeader: string;
  /** The X-Request-Id request header (the event's request_id); absent or "": a random id. */
  requestId?: string;
  /** The BYOC branch's request fields: the capability a payment is for and its model ("" when absent). */
  capability?: string;
  modelId?: string;
}

/** Tickets were signed. */
export interface Paid {
  kind: "paid";
  payment: Payment;
  segCreds: SegData;
  /** base64 of payment and segCreds: the Livepeer-Payment and Livepeer-Segment header values */
  paymentHeader: string;
  segmentHeader: string;
  state: SignedState;
  numTickets: number;
  units: bigint;
  fee: Rat;
  balance: Rat;
}

/** The credit carried covers this call: no ticket, the advanced state (elapsed time debited). */
export interface NothingDue {
  kind: "nothing-due";
  state: SignedState;
  units: bigint;
  fee: Rat;
  balance: Rat;
}

export type PaymentOutcome = Paid | NothingDue;

/**
 * GenerateLivePayment, step by step in the reference's order (PROTOCOL.md section 7). Each step
 * throws its PaymentError; nothing is signed until every check has passed, and accounting is
 * local to this call.
 */
export async function generatePayment(deps: PaymentDeps, req: PaymentRequest): Promise<PaymentOutcome> {
  const now = nowNs(deps.clock);
  const session = openSession(deps, req);
  const chain = checkRefresh(deps, req.orchestrator, session, now);
  const usage = measureUsage(deps, req, session, now);
  const orchPrice = checkPrice(deps, req, session, usage);
  const count = countTickets(deps, session, usage, orchPrice, chain);
  const facts = { req, session, usage, orchPrice, count, now };
  if (deps.events) return withEvent(deps, deps.events, facts, chain);
  if (count.numTickets === 0) return signNothingDue(deps, session, count, now);
  const state = await authorize(deps, req, session, usage, orchPrice, count, now, () => webhookPayment(deps, facts));
  return sign(deps, req.orchestrator, session, count, state, chain);
}

/** What the steps established, for the event and the extended webhook body. */
export interface PaymentFacts {
  req: PaymentRequest;
  session: Session;
  usage: Usage;
  orchPrice: Rat;
  count: TicketCount;
  now: bigint;
  /** Set on first use: the X-Request-Id header or a random id. */
  requestId?: string;
}

function requestIdOf(deps: PaymentDeps, facts: PaymentFacts): string {
  return (facts.requestId ??= facts.req.requestId || (deps.randomId ?? defaultRequestId)());
}
const defaultRequestId = () => randomHexId(4);

function webhookPayment(deps: PaymentDeps, facts: PaymentFacts): WebhookPayment {
  const { count, session } = facts;
  return {
    computedFee: count.fee.toFixed(0),
    numTickets: count.numTickets,
    faceValue: session.params.faceValue.toString(),
    totalEv: count.ev.mul(new Rat(BigInt(count.numTickets))).toFixed(0),
    manifestId: session.manifestId,
    requestId: requestIdOf(deps, facts),
    eventId: paymentEventId(deps.signer.address, session.state.stateId, session.state.sequenceNumber),
  };
}

/**
 * Signs with nothing recorded, writes the event, and only once it is on disk remembers the new
 * state and counts the tickets: when the outbox refuses, the call is unavailable and nothing of
 * it remains (the gateway retries with its previous state, which still verifies).
 */
async function withEvent(deps: PaymentDeps, events: PaymentEvents, facts: PaymentFacts, chain: ChainSnapshot): Promise<PaymentOutcome> {
  const { req, session, usage, orchPrice, count, now } = facts;
  const held: PaymentDeps = { ...deps, issuedStates: undefined, onTicketsSigned: undefined };
  let state: PaymentState;
  let outcome: PaymentOutcome;
  if (count.numTickets === 0) {
    state = nothingDueState(session, count, now);
    outcome = await signNothingDue(held, session, count, now);
  } else {
    state = await authorize(deps, req, session, usage, orchPrice, count, now, () => webhookPayment(deps, facts));
    outcome = await sign(held, req.orchestrator, session, count, state, chain);
  }
  await recordPaymentEvent(events, deps.signer.address, facts, state, requestIdOf(deps, facts));
  deps.issuedStates?.remember(outcome.state, state, count.balance);
  if (outcome.kind === "paid") deps.onTicketsSigned?.({ numTickets: count.numTickets, faceValue: session.params.faceValue, ev: count.ev });
  return outcome;
}
