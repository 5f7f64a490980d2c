import { create, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import {
  PaymentSchema,
  TicketExpirationParamsSchema,
  TicketParamsSchema,
  TicketSenderParamsSchema,
  type Payment,
  type PriceInfo,
  type TicketExpirationParams,
  type TicketParams as NetTicketParams,
  type TicketSenderParams,
} from "../../gen/net/lp_rpc_pb.js";
import { bigintToBytes, bytesEqual } from "../crypto/bytes.js";
import type { EthSigner } from "../crypto/eth-sign.js";
import { encodeWith } from "../wire/shared-writer.js";
import { lacksExpiration, ticketHash, type ExpirationParams } from "./ticket.js";
import type { TicketParams } from "./ticket-params.js";

export interface CreatePaymentParameters {
  params: TicketParams;
  /** The orchestrator's price_info, copied into expected_price as received. */
  expectedPrice: PriceInfo;
  /** Used when the orchestrator sent no usable expiration params: the signer's last initialized round. */
  fallbackExpiration: ExpirationParams;
  /** The last nonce used in this PM session; tickets carry lastNonce+1 … lastNonce+count. */
  lastNonce: number;
  count: number;
  signer: EthSigner;
}

export interface CreatePaymentReturnType {
  payment: Payment;
  /** toBinary(PaymentSchema, payment): the Livepeer-Payment header's bytes. */
  bytes: Uint8Array;
  /** The last nonce used. */
  lastNonce: number;
}

const MAX_UINT32 = 0xffff_ffff;

/** Signs `count` tickets against one set of params and packs them as net.Payment (the reference's genPayment). */
export function createPayment(p: CreatePaymentParameters): CreatePaymentReturnType {
  const batch = startBatch(p, p.signer.address);
  signTickets(batch, p.signer, p.count);
  return batch.finish();
}

/**
 * createPayment for a large batch, in slices of `slice` tickets with `pause()` awaited between
 * them, so that other requests are served while it signs (one call of 100 tickets would hold the
 * event loop for milliseconds). The result is the same bytes; nothing is returned before the end.
 */
export async function createPaymentInSlices(p: CreatePaymentParameters, slice: number, pause: () => Promise<void>): Promise<CreatePaymentReturnType> {
  const batch = startBatch(p, p.signer.address);
  for (let left = p.count; left > 0; left -= slice) {
    signTickets(batch, p.signer, Math.min(slice, left));
    if (left > slice) await pause();
  }
  return batch.finish();
}

/**
 * The tickets of a payment whose signatures come from elsewhere (a remote key): their hashes to
 * sign, in nonce order, and `finish` to pack the payment once every signature is in. Same bytes
 * as createPayment's for the same signatures.
 */
export function planPayment(p: Omit<CreatePaymentParameters, "signer"> & { sender: Uint8Array }): {
  hashes: Uint8Array[];
  finish(sigs: Uint8Array[]): CreatePaymentReturnType;
} {
  const batch = startBatch(p, p.sender);
  const planned = batch.next(p.count);
  return {
    hashes: planned.map((t) => t.hash),
    finish(sigs) {
      if (sigs.length !== planned.length) throw new Error(`${planned.length} tickets, ${sigs.length} signatures`);
      planned.forEach((t, i) => batch.push(t.nonce, sigs[i]!));
      return batch.finish();
    },
  };
}

type Batch = ReturnType<typeof startBatch>;

function signTickets(batch: Batch, signer: EthSigner, count: number): void {
  for (const { nonce, hash } of batch.next(count)) batch.push(nonce, signer.sign(hash));
}

function startBatch({ params, expectedPrice, fallbackExpiration, lastNonce }: Omit<CreatePaymentParameters, "signer">, sender: Uint8Array) {
  const expiration = lacksExpiration(params.expiration) ? fallbackExpiration : params.expiration;
  const ticketSenderParams: TicketSenderParams[] = [];
  let nonce = lastNonce;
  return {
    /** The next `count` tickets' nonces and hashes. */
    next(count: number): { nonce: number; hash: Uint8Array }[] {
      const out = [];
      for (let i = 0; i < count; i++) {
        // uint32 arithmetic, as the reference's atomic.AddUint32.
        nonce = nonce === MAX_UINT32 ? 0 : nonce + 1;
        const hash = ticketHash({
          recipient: params.recipient,
          sender,
          faceValue: params.faceValue,
          winProb: params.winProb,
          senderNonce: nonce,
          recipientRandHash: params.recipientRandHash,
          expiration,
        });
        out.push({ nonce, hash });
      }
      return out;
    },
    push(senderNonce: number, sig: Uint8Array): void {
      ticketSenderParams.push(create(TicketSenderParamsSchema, { senderNonce, sig }));
    },
    finish(): CreatePaymentReturnType {
      const parts = repeatedParts(params, sender, expiration, expectedPrice);
      const payment = create(PaymentSchema, {
        sender,
        expectedPrice,
        ticketParams: parts.ticketParams,
        expirationParams: parts.expirationParams,
        ticketSenderParams,
      });
      return { payment, bytes: encodePayment(parts, ticketSenderParams), lastNonce: nonce };
    },
  };
}

/**
 * What a session's payments repeat from call to call, as messages and as their encoding: the
 * Payment fields before the tickets (ticket_params, sender, expiration_params: numbers 1-3) and
 * after them (expected_price: 5), each written by toBinary itself.
 */
interface RepeatedParts {
  sender: Uint8Array;
  expiration: ExpirationParams;
  expectedPrice: PriceInfo;
  ticketParams: NetTicketParams;
  expirationParams: TicketExpirationParams;
  head: Uint8Array;
  tail: Uint8Array;
}

/** Kept per decoded params object, which a session's calls share (see readTicketParams). */
const partsByParams = new WeakMap<TicketParams, RepeatedParts>();

function repeatedParts(params: TicketParams, sender: Uint8Array, expiration: ExpirationParams, expectedPrice: PriceInfo): RepeatedParts {
  const kept = partsByParams.get(params);
  if (
    kept &&
    kept.expectedPrice === expectedPrice &&
    bytesEqual(kept.sender, sender) &&
    kept.expiration.creationRound === expiration.creationRound &&
    bytesEqual(kept.expiration.creationRoundBlockHash, expiration.creationRoundBlockHash)
  ) {
    return kept;
  }
  // Frozen: every payment of the session shares them (as it shares the orchestrator's price info).
  const ticketParams = create(TicketParamsSchema, {
    recipient: params.recipient,
    faceValue: bigintToBytes(params.faceValue),
    winProb: bigintToBytes(params.winProb),
    recipientRandHash: params.recipientRandHash,
    seed: bigintToBytes(params.seed),
    expirationBlock: bigintToBytes(params.expirationBlock),
  });
  const expirationParams = create(TicketExpirationParamsSchema, {
    creationRound: expiration.creationRound,
    creationRoundBlockHash: Uint8Array.from(expiration.creationRoundBlockHash),
  });
  Object.freeze(ticketParams);
  Object.freeze(expirationParams);
  const parts: RepeatedParts = {
    sender: Uint8Array.from(sender),
    expiration: { creationRound: expiration.creationRound, creationRoundBlockHash: expirationParams.creationRoundBlockHash },
    expectedPrice,
    ticketParams,
    expirationParams,
    head: toBinary(PaymentSchema, create(PaymentSchema, { ticketParams, sender, expirationParams })),
    tail: toBinary(PaymentSchema, create(PaymentSchema, { expectedPrice })),
  };
  partsByParams.set(params, parts);
  return parts;
}

/**
 * toBinary(PaymentSchema, …) of the whole payment: protobuf-es writes fields in number order
 * (and a created Payment has no unknown fields), so it is the repeated head, each ticket as
 * field 4 with proto3's defaults left out, then the tail. A test holds it to toBinary.
 */
function encodePayment(parts: RepeatedParts, tickets: TicketSenderParams[]): Uint8Array {
  return encodeWith((w) => {
    w.raw(parts.head);
    for (const t of tickets) {
      w.tag(4, WireType.LengthDelimited).fork();
      if (t.senderNonce !== 0) w.tag(1, WireType.Varint).uint32(t.senderNonce);
      if (t.sig.length > 0) w.tag(2, WireType.LengthDelimited).bytes(t.sig);
      w.join();
    }
    w.raw(parts.tail);
  });
}
