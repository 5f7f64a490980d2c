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

/** The params' expiration block is too close to the last seen L1 block: fetch new params. */
export class TicketParamsExpiredError extends Error {
  override name = "TicketParamsExpiredError";
  constructor() {
    super("ticket params expired");
  }
}

/** The params or the signer's funds do not allow signing these tickets. */
export class SenderValidationError extends Error {
  override name = "SenderValidationError";
  /** True when only the batch size (maxTotalEV) failed: the single-ticket check passed. */
  constructor(message: string, readonly batchOnly = false) {
    super(message);
  }
}

/** Tickets expire this many L1 blocks before expirationBlock (the reference's paramsExpiryBuffer). */
const PARAMS_EXPIRY_BUFFER = 1n;

const asInt64 = (v: bigint) => BigInt.asIntN(64, v);

/**
 * The reference sender's checks before signing numTickets tickets against params
 * (pm/sender.go validateTicketParams), in its order. Int64 truncations are Go's.
 */
export function validateTicketParams(
  params: TicketParams,
  numTickets: number,
  chain: ChainSnapshot,
  limits: SenderLimits,
): void {
  if (asInt64(params.expirationBlock) === 0n) {
    throw new SenderValidationError("ticketParams expiration block is 0");
  }
  if (asInt64(params.expirationBlock - chain.lastSeenL1Block) <= PARAMS_EXPIRY_BUFFER) {
    throw new TicketParamsExpiredError();
  }
  const ev = ticketEV(params.faceValue, params.winProb);
  if (ev.sign() <= 0) return;
  if (ev.cmp(new Rat(params.faceValue)) >= 0) {
    throw new SenderValidationError(`ticket faceValue too low faceValue=${params.faceValue}`);
  }
  if (ev.cmp(limits.maxTicketEV) > 0) {
    throw new SenderValidationError(
      `ticket EV ${ev.toFixed(5)} > max ticket EV ${limits.maxTicketEV.toFixed(5)}`,
    );
  }
  const { sender } = chain;
  if (sender.withdrawRound !== 0n && sender.withdrawRound <= chain.lastInitializedRound + 1n) {
    throw new SenderValidationError("unable to validate sender: deposit and reserve is set to unlock soon");
  }
  if (sender.reserve === 0n) throw new SenderValidationError("no sender reserve");
  if (sender.deposit === 0n) throw new SenderValidationError("no sender deposit");
  const totalEV = ev.mul(new Rat(BigInt(numTickets)));
  if (totalEV.cmp(limits.maxTotalEV) > 0) {
    throw new SenderValidationError(
      `total ticket EV ${totalEV.toFixed(5)} for ${numTickets} tickets > max total ticket EV ${limits.maxTotalEV.toFixed(5)}`,
      true,
    );
  }
  const maxFaceValue = sender.deposit / limits.depositMultiplier;
  if (params.faceValue > maxFaceValue) {
    throw new SenderValidationError(`ticket faceValue ${params.faceValue} > max faceValue ${maxFaceValue}`);
  }
}
