import type { ChainSnapshot } from "../chain/chain-view.js";
import { Rat } from "../math/rat.js";
import { validateTicketParams } from "../pm/sender-validation.js";
import { ticketEV } from "../pm/ticket.js";
import { computeFee, ticketsNeeded } from "../pricing/fee.js";
import { internal, invalidArgument, noTickets, priceExceeded } from "./errors.js";
import type { PaymentDeps } from "./generate-payment.js";
import type { Usage } from "./measure-usage.js";
import type { Session } from "./open-session.js";

/** The reference refuses tickets past this many per call: it would drain funds or stall. */
export const MAX_TICKETS_PER_CALL = 100;

export interface TicketCount {
  /** 0 when the credit carried covers the fee: nothing is due. */
  numTickets: number;
  units: bigint;
  fee: Rat;
  /** EV of one ticket */
  ev: Rat;
  /** Credit after this call: credit + numTickets × EV − fee. */
  balance: Rat;
}

/** Steps 10-12: the fee at the session's initial price, the tickets covering it, then the n-ticket checks. */
export function countTickets(deps: PaymentDeps, session: Session, usage: Usage, orchPrice: Rat, chain: ChainSnapshot): TicketCount {
  const { state, params, credit } = session;
  const initialPrice = new Rat(state.initialPricePerUnit, state.initialPixelsPerUnit);
  const fee = computeFee(usage.units, initialPrice);
  const ev = ticketEV(params.faceValue, params.winProb);
  const needed = ticketsNeeded({ existing: credit, fee, ev });
  // The reference keeps the low 64 bits of the count (big.Int.Int64): an absurd count can wrap to
  // <= 0 and read as "no tickets". Nothing is covered then, so no state is advanced.
  const wrapped = BigInt.asIntN(64, needed);
  if (needed > 0n && wrapped <= 0n) throw noTickets();
  if (needed === 0n) {
    if (ev.sign() === 0) throw noTickets();
    // Unlike the reference, account the elapsed time so the session cannot stall (issue #4077).
    // credit >= max(fee, EV) >= fee here, so the balance stays non-negative.
    return { numTickets: 0, units: usage.units, fee, ev, balance: credit.sub(fee) };
  }
  if (needed > BigInt(MAX_TICKETS_PER_CALL)) {
    // The reference prints its wrapped count; a wrapped count within the cap is refused too.
    const shown = wrapped > BigInt(MAX_TICKETS_PER_CALL) ? wrapped : needed;
    throw invalidArgument(`numTickets ${shown} exceeds maximum of ${MAX_TICKETS_PER_CALL}`);
  }
  const numTickets = Number(needed);

  // Step 12: the 2x rule, then the n-ticket sender checks.
  const maxIncreasedPrice = initialPrice.mul(new Rat(2n));
  if (orchPrice.cmp(maxIncreasedPrice) > 0) {
    throw priceExceeded(
      "price increase",
      orchPrice,
      maxIncreasedPrice,
      `Orchestrator price has more than doubled, Orchestrator price: ${orchPrice}, Orchestrator initial price: ${initialPrice}`,
    );
  }
  const failure = validateTicketParams(params, numTickets, chain, deps.limits);
  if (failure) throw internal(`could not create payment: ${failure.message}`);
  const balance = credit.add(ev.mul(new Rat(BigInt(numTickets)))).sub(fee);
  return { numTickets, units: usage.units, fee, ev, balance };
}
