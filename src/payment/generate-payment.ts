import type { OrchestratorInfo, Payment, SegData } from "../../gen/net/lp_rpc_pb.js";
import type { ChainView } from "../chain/chain-view.js";
import { nowNs, type Clock } from "../clock.js";
import type { AnySigner } from "../crypto/remote-signer.js";
import type { Rat } from "../math/rat.js";
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
import { sign, signNothingDue } from "./sign.js";

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
  if (count.numTickets === 0) return signNothingDue(deps, session, count, now);
  const state = await authorize(deps, req, session, usage, orchPrice, count, now);
  return sign(deps, req.orchestrator, session, count, state, chain);
}
