import { toBinary } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import {
  PaymentSchema,
  SegDataSchema,
  type Capabilities,
  type OrchestratorInfo,
  type Payment,
  type SegData,
} from "../../gen/net/lp_rpc_pb.js";
import { ChainUnavailableError, type ChainSnapshot, type ChainView } from "../chain/chain-view.js";
import { bytesEqual, toHex } from "../crypto/bytes.js";
import type { EthSigner } from "../crypto/eth-sign.js";
import { Rat } from "../math/rat.js";
import { createSegCreds } from "../pm/seg-creds.js";
import {
  SenderValidationError,
  TicketParamsExpiredError,
  validateTicketParams,
  type SenderLimits,
} from "../pm/sender-validation.js";
import { createPayment } from "../pm/ticket-batch.js";
import { decodeTicketParams, TicketParamsError, type TicketParams } from "../pm/ticket-params.js";
import { ticketEV } from "../pm/ticket.js";
import { billableUnits, computeFee, InvalidJobTypeError, ticketsNeeded } from "../pricing/fee.js";
import { exceededCeiling, InvalidMaxPriceError, parseMaxPrice, type MaxPriceInput } from "../wire/max-price.js";
import { configuredMaxPrice, type PriceLimits } from "../pricing/price-limits.js";
import {
  encodeState,
  InvalidStateError,
  InvalidStateSignatureError,
  openState,
  signState,
  type PaymentState,
  type SignedState,
} from "../state/payment-state.js";
import { elapsedSeconds, GO_ZERO_TIME_NS } from "../go/time.js";
import { nowNs, type Clock } from "../clock.js";
import { AuthWebhookError, type AuthWebhook } from "./auth-webhook.js";
import {
  AuthBadPriceError,
  AuthRejectedError,
  InternalPaymentError,
  InvalidRequestError,
  NoTicketsNeededError,
  PriceExceededError,
  RefreshSessionError,
  SignerUnavailableError,
} from "./errors.js";

/** Everything GenerateLivePayment depends on, passed in so tests control each part. */
export interface PaymentDeps {
  signer: EthSigner;
  chain: ChainView;
  limits: SenderLimits;
  prices: PriceLimits;
  clock: Clock;
  webhook: AuthWebhook | undefined;
  /** Random session ids; the reference uses 8 lowercase hex characters. */
  randomId?: () => string;
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
  /** "", "lv2v", "live", "fixed"; anything else is refused */
  type: string;
  inPixels: bigint;
  maxPrice: MaxPriceInput | undefined;
  /** The request's capabilities, decoded at the reference's step (a decode error is a PaymentError). */
  decodeCapabilities: () => Capabilities | undefined;
  /** The incoming request's headers (canonical names), forwarded to the auth webhook. */
  headers: Record<string, string[]>;
  /** The Signer-Auth-Id request header, "" when absent. */
  authIdHeader: string;
}

export interface PaymentResult {
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

/** The reference refuses tickets past this many per call: it would drain funds or stall. */
export const MAX_TICKETS_PER_CALL = 100;
/** A session's params are refreshed from this sender nonce on: orchestrators cap it at 600. */
export const NONCE_REFRESH_AT = 500;
/** The orchestrator's auth token is refreshed in the last 10 % of its 30-minute validity. */
const AUTH_TOKEN_REFRESH_SECONDS = 180n;
const NS_PER_SEC = 1_000_000_000n;

const defaultRandomId = () => randomBytes(4).toString("hex");

/** Bounds on request strings; the reference has none, which lets a client bloat signed state. */
export const MAX_ID_LENGTH = 256;

function checkLength(value: string, field: string): void {
  if (value.length > MAX_ID_LENGTH) throw new InvalidRequestError(`${field}: longer than ${MAX_ID_LENGTH} characters`);
}

/**
 * GenerateLivePayment, step by step as the reference orders them (PROTOCOL.md section 7).
 * Nothing is signed until every check has passed; accounting is local to this call.
 * Throws a PaymentError; NoTicketsNeededError carries the advanced state.
 */
export async function generatePayment(deps: PaymentDeps, req: PaymentRequest): Promise<PaymentResult> {
  const { orchestrator: info } = req;
  const priceInfo = info.priceInfo;
  if (!priceInfo || priceInfo.pricePerUnit === 0n || priceInfo.pixelsPerUnit === 0n) {
    throw new InvalidRequestError("missing or zero priceInfo");
  }
  if (!info.ticketParams) throw new InvalidRequestError("missing ticketParams in OrchestratorInfo");
  // Stricter than the reference, which lets a negative price through to odd outcomes.
  if (priceInfo.pricePerUnit < 0n || priceInfo.pixelsPerUnit < 0n) {
    throw new InvalidRequestError("orchestrator.price_info: price must be positive");
  }
  checkLength(req.manifestId, "ManifestID");
  checkLength(req.app, "app");
  checkLength(req.authIdHeader, "Signer-Auth-Id");
  const orchAddress = goAddress(info.address);

  // Step 3: restore and check the state, or start a session.
  const hasState = req.state !== undefined && (req.state.state.length > 0 || req.state.sig.length > 0);
  let state: PaymentState;
  if (hasState) {
    try {
      state = openState(req.state!, deps.signer.address);
    } catch (err) {
      if (err instanceof InvalidStateSignatureError) throw new InvalidRequestError("invalid sig", { cause: err });
      if (err instanceof InvalidStateError) throw new InvalidRequestError("invalid state", { cause: err });
      throw err;
    }
    if (!bytesEqual(state.orchestratorAddress, orchAddress)) throw new InvalidRequestError("orchestratorAddress mismatch");
    if (state.app !== req.app) throw new InvalidRequestError("app mismatch");
    if (state.type !== "" && state.type !== req.type) throw new InvalidRequestError("job type mismatch");
    state = { ...state, type: req.type, sequenceNumber: BigInt.asUintN(64, state.sequenceNumber + 1n) };
  } else {
    state = {
      stateId: (deps.randomId ?? defaultRandomId)(),
      pmSessionId: "",
      lastUpdate: GO_ZERO_TIME_NS,
      orchestratorAddress: orchAddress,
      app: req.app,
      authExpiry: 0n,
      senderNonce: 0,
      balance: "",
      initialPricePerUnit: priceInfo.pricePerUnit,
      initialPixelsPerUnit: priceInfo.pixelsPerUnit,
      type: req.type,
      sequenceNumber: 0n,
      authId: "",
    };
  }

  // Step 4: a session keeps its manifest id.
  let manifestId = req.manifestId;
  if (manifestId === "") {
    if (hasState) throw new InvalidRequestError("missing manifestID");
    manifestId = (deps.randomId ?? defaultRandomId)();
  }

  // Step 5: capabilities.
  const capabilities = req.decodeCapabilities();

  // Step 6: nonce and credit carried by the state.
  let params: TicketParams;
  try {
    params = decodeTicketParams(info.ticketParams);
  } catch (err) {
    if (err instanceof TicketParamsError) throw new InvalidRequestError(err.message);
    throw err;
  }
  const pmSessionId = "0x" + toHex(params.recipientRandHash);
  const lastNonce = state.pmSessionId === pmSessionId ? state.senderNonce : 0;
  let existing = Rat.ZERO;
  if (state.balance !== "") {
    const parsed = Rat.parse(state.balance);
    if (!parsed) throw new InvalidRequestError("invalid state: Balance is not a rational number");
    existing = parsed;
  }
  // Orchestrators refuse nonces past 600 per recipientRand; a call may add 100 (go-livepeer #4028).
  if (lastNonce >= NONCE_REFRESH_AT) throw new RefreshSessionError(info.transcoder, "sender nonce limit reached");

  // Step 7: refresh when the auth token or the params are about to expire.
  const now = nowNs(deps.clock);
  if (!info.authToken) {
    throw new InvalidRequestError("remote signer could not check whether to refresh session: missing auth token");
  }
  if (authTokenNeedsRefresh(info.authToken.expiration, now)) throw new RefreshSessionError(info.transcoder, "auth token expired");
  const chain = currentChain(deps.chain);
  try {
    validateTicketParams(params, 1, chain, deps.limits);
  } catch (err) {
    if (err instanceof TicketParamsExpiredError) throw new RefreshSessionError(info.transcoder, "ticket params expired");
    if (err instanceof SenderValidationError) {
      throw new InvalidRequestError(`remote signer could not check whether to refresh session: ${err.message}`);
    }
    throw err;
  }

  // Step 8: units since the last update, from exactly the timestamp the new state will carry.
  const elapsed = state.lastUpdate === GO_ZERO_TIME_NS ? 0 : elapsedSeconds(now, state.lastUpdate);
  let units: bigint;
  try {
    units = billableUnits({ type: req.type, elapsedSeconds: elapsed, inPixels: req.inPixels });
  } catch (err) {
    if (err instanceof InvalidJobTypeError) throw new InvalidRequestError("invalid job type");
    throw err;
  }
  if (units <= 0n) throw new InvalidRequestError("missing billable unit or job type");

  // Step 9: every ceiling known before the webhook.
  const orchPrice = new Rat(priceInfo.pricePerUnit, priceInfo.pixelsPerUnit);
  let requestMax: Rat | undefined;
  if (req.maxPrice) {
    try {
      requestMax = parseMaxPrice(req.maxPrice, req.type);
    } catch (err) {
      if (err instanceof InvalidMaxPriceError) throw new InvalidRequestError(err.message);
      throw err;
    }
  }
  let initialMax: Rat | undefined;
  if (hasState) {
    if (state.initialPricePerUnit <= 0n || state.initialPixelsPerUnit <= 0n) {
      throw new InvalidRequestError("invalid initial price in state");
    }
    initialMax = new Rat(state.initialPricePerUnit, state.initialPixelsPerUnit);
  }
  const hit = exceededCeiling(orchPrice, [
    { source: "configured maximum price", price: configuredMaxPrice(deps.prices, capabilities) },
    { source: "request maxPrice", price: requestMax },
    { source: "initial session price", price: initialMax },
  ]);
  if (hit) throw new PriceExceededError(hit.source, orchPrice, hit.price);

  // Steps 10-11: the fee at the session's initial price, and the tickets that cover it.
  const initialPrice = new Rat(state.initialPricePerUnit, state.initialPixelsPerUnit);
  const fee = computeFee(units, initialPrice);
  const ev = ticketEV(params.faceValue, params.winProb);
  const needed = ticketsNeeded({ existing, fee, ev });
  // The reference keeps the low 64 bits of the count (big.Int.Int64): an absurd count can wrap to
  // <= 0 and read as "no tickets". Nothing is covered then, so no state is advanced.
  const wrapped = BigInt.asIntN(64, needed);
  if (needed > 0n && wrapped <= 0n) throw new NoTicketsNeededError(undefined);
  if (needed === 0n) {
    if (ev.sign() === 0) throw new NoTicketsNeededError(undefined);
    // Unlike the reference, account the elapsed time so the session cannot stall (issue #4077).
    // existing >= max(fee, EV) >= fee here, so the balance stays non-negative.
    const balance = existing.sub(fee);
    const advanced = { ...state, balance: balance.toString(), lastUpdate: now };
    throw new NoTicketsNeededError(signState(advanced, deps.signer), { units, fee, balance });
  }
  if (needed > BigInt(MAX_TICKETS_PER_CALL)) {
    // The reference prints its wrapped count; a wrapped count within the cap is refused too.
    const shown = wrapped > BigInt(MAX_TICKETS_PER_CALL) ? wrapped : needed;
    throw new InvalidRequestError(`numTickets ${shown} exceeds maximum of ${MAX_TICKETS_PER_CALL}`);
  }
  const numTickets = Number(needed);

  // Step 12: the 2x rule, then the n-ticket sender checks.
  const maxIncreasedPrice = initialPrice.mul(new Rat(2n));
  if (orchPrice.cmp(maxIncreasedPrice) > 0) {
    throw new PriceExceededError(
      "price increase",
      orchPrice,
      maxIncreasedPrice,
      `Orchestrator price has more than doubled, Orchestrator price: ${orchPrice}, Orchestrator initial price: ${initialPrice}`,
    );
  }
  try {
    validateTicketParams(params, numTickets, chain, deps.limits);
  } catch (err) {
    throw new InternalPaymentError(`could not create payment: ${(err as Error).message}`, { cause: err });
  }

  // Step 13: the new state, before the webhook sees it.
  const balance = existing.add(ev.mul(new Rat(BigInt(numTickets)))).sub(fee);
  const finalNonce = (lastNonce + numTickets) % 2 ** 32;
  state = { ...state, balance: balance.toString(), lastUpdate: now, pmSessionId, senderNonce: finalNonce };

  // Step 14: the auth webhook, skipped while a previous approval is still valid.
  let authId = req.authIdHeader;
  const authStillValid = state.authExpiry !== 0n && now / NS_PER_SEC <= state.authExpiry;
  if (deps.webhook && !authStillValid) {
    let decision;
    try {
      decision = await deps.webhook.authorize({ headers: req.headers, stateJson: encodeState(state) });
    } catch (err) {
      if (err instanceof AuthWebhookError) throw new InternalPaymentError(err.message, { cause: err });
      throw err;
    }
    if (decision.status !== 200) throw new AuthRejectedError(decision.status, decision.reason);
    state = { ...state, authExpiry: decision.expiry };
    if (decision.maxPrice) {
      let authMax: Rat;
      try {
        authMax = parseMaxPrice(decision.maxPrice, req.type);
      } catch (err) {
        throw new AuthBadPriceError(`signer auth invalid maxPrice: ${(err as Error).message}`, { cause: err });
      }
      const authHit = exceededCeiling(orchPrice, [{ source: "auth webhook maxPrice", price: authMax }]);
      if (authHit) throw new PriceExceededError(authHit.source, orchPrice, authHit.price);
    }
    if (decision.authId !== "") authId = decision.authId;
  }
  if (authId !== "" && state.authId !== authId) {
    if (state.authId !== "") throw new InternalPaymentError("remote signer auth ID changed");
    state = { ...state, authId };
  }

  // Step 15: everything checked; sign tickets, credentials and state.
  const { payment } = createPayment({
    params,
    expectedPrice: priceInfo,
    fallbackExpiration: { creationRound: chain.lastInitializedRound, creationRoundBlockHash: chain.lastInitializedBlockHash },
    lastNonce,
    count: numTickets,
    signer: deps.signer,
  });
  const segCreds = createSegCreds({
    manifestId,
    capabilities,
    authToken: info.authToken,
    signer: deps.signer,
  });
  deps.onTicketsSigned?.({ numTickets, faceValue: params.faceValue, ev });
  return {
    payment,
    segCreds,
    paymentHeader: Buffer.from(toBinary(PaymentSchema, payment)).toString("base64"),
    segmentHeader: Buffer.from(toBinary(SegDataSchema, segCreds)).toString("base64"),
    state: signState(state, deps.signer),
    numTickets,
    units,
    fee,
    balance,
  };
}

/** Seconds from year 1 to the Unix epoch: Go's time.Time counts from year 1, in an int64. */
const UNIX_TO_INTERNAL = 62_135_596_800n;

/**
 * time.Now().After(time.Unix(expiration - 180, 0)) with Go's int64 arithmetic, wrap-arounds
 * included (an expiration near the int64 limits reads as already past, as in the reference).
 */
export function authTokenNeedsRefresh(expiration: bigint, nowNs: bigint): boolean {
  const refreshPoint = BigInt.asIntN(64, BigInt.asIntN(64, expiration - AUTH_TOKEN_REFRESH_SECONDS) + UNIX_TO_INTERNAL);
  const nowSec = nowNs / NS_PER_SEC + UNIX_TO_INTERNAL;
  return nowSec > refreshPoint || (nowSec === refreshPoint && nowNs % NS_PER_SEC > 0n);
}

/** go-ethereum's BytesToAddress: the last 20 bytes, left-padded when shorter. */
function goAddress(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(20);
  const tail = bytes.subarray(Math.max(0, bytes.length - 20));
  out.set(tail, 20 - tail.length);
  return out;
}

function currentChain(chain: ChainView): ChainSnapshot {
  try {
    return chain.current();
  } catch (err) {
    if (err instanceof ChainUnavailableError) throw new SignerUnavailableError(err.message, { cause: err });
    throw err;
  }
}
