import type { ChainSnapshot } from "../chain/chain-view.js";
import { Rat } from "../math/rat.js";
import { ticketEV } from "./ticket.js";
import type { TicketParams } from "./ticket-params.js";

/** The sender's safety limits (-maxTicketEV, -maxTotalEV, -depositMultiplier). */
export interface SenderLimits {
  maxTicketEV: Rat;
  maxTotalEV: Rat;
  depositMultiplier: bigint;
}

export const DEFAULT_SENDER_LIMITS: SenderLimits = {
  maxTicketEV: new Rat(3_000_000_000_000n),
  maxTotalEV: new Rat(20_000_000_000_000n),
  depositMultiplier: 1n,
};

/**
 * Why tickets cannot be signed against these params: "expired" (fetch new params), "unfunded"
 * (the signer's deposit or reserve cannot back tickets: the reference's ErrSenderValidation),
 * "invalid" (the params or the batch break a limit).
 */
export type SenderCheckFailure =
  | { kind: "expired"; message: string }
  | { kind: "unfunded"; message: string }
  | { kind: "invalid"; message: string };

/** Tickets expire this many L1 blocks before expirationBlock (the reference's paramsExpiryBuffer). */
const PARAMS_EXPIRY_BUFFER = 1n;

const asInt64 = (v: bigint) => BigInt.asIntN(64, v);
const invalid = (message: string) => ({ kind: "invalid", message }) as const;

/**
 * The reference sender's checks before signing numTickets tickets against params
 * (pm/sender.go validateTicketParams), in its order; undefined when they pass. Int64
 * truncations are Go's.
 */
export function validateTicketParams(
  params: TicketParams,
  numTickets: number,
  chain: ChainSnapshot,
  limits: SenderLimits,
): SenderCheckFailure | undefined {
  if (asInt64(params.expirationBlock) === 0n) {
    return invalid("ticketParams expiration block is 0");
  }
  if (asInt64(params.expirationBlock - chain.lastSeenL1Block) <= PARAMS_EXPIRY_BUFFER) {
    return { kind: "expired", message: "ticket params expired" };
  }
  const ev = ticketEV(params.faceValue, params.winProb);
  if (ev.sign() <= 0) return undefined;
  if (ev.cmp(new Rat(params.faceValue)) >= 0) {
    return invalid(`ticket faceValue too low faceValue=${params.faceValue}`);
  }
  if (ev.cmp(limits.maxTicketEV) > 0) {
    return invalid(`ticket EV ${ev.toFixed(5)} > max ticket EV ${limits.maxTicketEV.toFixed(5)}`);
  }
  const funding = fundingProblem(chain);
  if (funding) return { kind: "unfunded", message: funding };
  const { sender } = chain;
  const totalEV = ev.mul(new Rat(BigInt(numTickets)));
  if (totalEV.cmp(limits.maxTotalEV) > 0) {
    return invalid(
      `total ticket EV ${totalEV.toFixed(5)} for ${numTickets} tickets > max total ticket EV ${limits.maxTotalEV.toFixed(5)}`,
    );
  }
  const maxFaceValue = sender.deposit / limits.depositMultiplier;
  if (params.faceValue > maxFaceValue) {
    return invalid(`ticket faceValue ${params.faceValue} > max faceValue ${maxFaceValue}`);
  }
  return undefined;
}

/**
 * Why the signer's TicketBroker funds cannot back tickets (the reference's validateSender), or
 * undefined. GetSignerStatus reports it too.
 */
export function fundingProblem(chain: ChainSnapshot): string | undefined {
  const { sender } = chain;
  if (sender.withdrawRound !== 0n && sender.withdrawRound <= chain.lastInitializedRound + 1n) {
    return "unable to validate sender: deposit and reserve is set to unlock soon";
  }
  if (sender.reserve === 0n) return "no sender reserve";
  if (sender.deposit === 0n) return "no sender deposit";
  return undefined;
}
