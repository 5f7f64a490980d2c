/**
 * An orchestrator's checks of a payment, as go-livepeer's recipient and segment-credential checks
 * do them (PROTOCOL.md section 13): recipient, recipientRand (from the ticket params' seed),
 * ticket signatures, nonce replay, expiration, expected price, and the segment credentials. Used
 * by the development orchestrator and by tests; it keeps no balance (the caller does).
 */
import { fromBinary } from "@bufbuild/protobuf";
import { PaymentSchema, SegDataSchema, type Payment, type SegData, type TicketParams } from "../../gen/net/lp_rpc_pb.js";
import { bytesEqual, bytesToBigint, concatBytes, keccak256, writeUint256 } from "../crypto/bytes.js";
import { verifySignature } from "../crypto/eth-sign.js";
import { Rat } from "../math/rat.js";
import { flattenEmptySegment } from "../pm/seg-creds.js";
import { ticketEV, ticketHash } from "../pm/ticket.js";

/** A refused payment and the HTTP status go-livepeer's POST /payment answers it with. */
export class PaymentRefusedError extends Error {
  override name = "PaymentRefusedError";
  constructor(
    readonly status: 400 | 402 | 403,
    message: string,
  ) {
    super(message);
  }
}

export const uint256Bytes = (value: bigint): Uint8Array => {
  const out = new Uint8Array(32);
  writeUint256(out, 0, value);
  return out;
};

/** The Livepeer-Payment header: base64 of net.Payment (402 when unreadable, as the reference). */
export function decodePaymentHeader(header: string): Payment {
  try {
    return fromBinary(PaymentSchema, Buffer.from(header, "base64"));
  } catch (err) {
    throw new PaymentRefusedError(402, `protobuf unmarshal error: ${(err as Error).message}`);
  }
}

/** The Livepeer-Segment header: base64 of net.SegData signed by the sender (403 when not valid). */
export function verifySegmentHeader(header: string, sender: Uint8Array, manifestId?: string): SegData {
  let seg: SegData;
  try {
    seg = fromBinary(SegDataSchema, Buffer.from(header, "base64"));
  } catch {
    throw new PaymentRefusedError(403, "segment credentials: invalid encoding");
  }
  const mid = Buffer.from(seg.manifestId).toString("utf8");
  if (manifestId !== undefined && mid !== manifestId) throw new PaymentRefusedError(403, "segment manifest id mismatch");
  if (!verifySignature(sender, keccak256(flattenEmptySegment(mid)), seg.sig)) {
    throw new PaymentRefusedError(403, "invalid segment signature");
  }
  if (!seg.authToken) throw new PaymentRefusedError(403, "missing auth token");
  return seg;
}

export interface TicketRecipientOptions {
  recipient: Uint8Array;
  /** The recipientRand behind these ticket params (undefined: not params this recipient issued). */
  recipientRand(params: TicketParams, sender: Uint8Array): bigint | undefined;
  /** Whether the payment's expected price is one this recipient quoted. */
  priceAccepted(price: { pricePerUnit: bigint; pixelsPerUnit: bigint }): boolean;
  lastSeenL1Block(): bigint;
}

/** Checks each ticket of a payment; throws PaymentRefusedError(400) on the first failure. */
export function createTicketRecipient(opts: TicketRecipientOptions) {
  const seen = new Map<string, Set<number>>(); // nonces by recipientRandHash
  return {
    /** Returns the EV received and the winning tickets (by nonce). Nothing is recorded on failure. */
    receive(payment: Payment): { ev: Rat; winningNonces: number[] } {
      const refuse = (message: string): never => {
        throw new PaymentRefusedError(400, message);
      };
      if (payment.sender.length !== 20) refuse("invalid sender");
      const tp = payment.ticketParams ?? refuse("missing ticket params");
      if (!bytesEqual(tp.recipient, opts.recipient)) refuse("invalid ticket recipient");
      const rand = opts.recipientRand(tp, payment.sender);
      if (rand === undefined || !bytesEqual(keccak256(uint256Bytes(rand)), tp.recipientRandHash)) {
        refuse("invalid recipientRand for recipientRandHash");
      }
      const price = payment.expectedPrice;
      if (!price || price.pixelsPerUnit <= 0n || !opts.priceAccepted(price)) refuse("invalid expected price");
      if (bytesToBigint(tp.expirationBlock) <= opts.lastSeenL1Block()) refuse("ticket params expired");
      const exp = payment.expirationParams;
      const faceValue = bytesToBigint(tp.faceValue);
      const winProb = bytesToBigint(tp.winProb);
      const key = Buffer.from(tp.recipientRandHash).toString("hex");
      const nonces = seen.get(key) ?? new Set<number>();
      const fresh = new Set<number>();
      let ev = Rat.ZERO;
      const winningNonces: number[] = [];
      for (const tsp of payment.ticketSenderParams) {
        const hash = ticketHash({
          recipient: tp.recipient,
          sender: payment.sender,
          faceValue,
          winProb,
          senderNonce: tsp.senderNonce,
          recipientRandHash: tp.recipientRandHash,
          expiration: {
            creationRound: exp?.creationRound ?? 0n,
            creationRoundBlockHash: exp?.creationRoundBlockHash.length ? exp.creationRoundBlockHash : new Uint8Array(32),
          },
        });
        if (!verifySignature(payment.sender, hash, tsp.sig)) refuse(`invalid ticket signature (nonce ${tsp.senderNonce})`);
        if (nonces.has(tsp.senderNonce) || fresh.has(tsp.senderNonce)) {
          refuse(`invalid ticket senderNonce ${tsp.senderNonce}: already seen`);
        }
        fresh.add(tsp.senderNonce);
        ev = ev.add(ticketEV(faceValue, winProb));
        if (bytesToBigint(keccak256(concatBytes(tsp.sig, uint256Bytes(rand!)))) < winProb) winningNonces.push(tsp.senderNonce);
      }
      for (const n of fresh) nonces.add(n);
      seen.set(key, nonces);
      return { ev, winningNonces };
    },
    nonces: () => [...seen.values()].flatMap((s) => [...s]).sort((a, b) => a - b),
  };
}

/**
 * For tests: one orchestrator with a fixed recipientRand and price. accept() checks a
 * Livepeer-Payment and Livepeer-Segment pair and throws on the first failure; it keeps the EV received.
 */
export function createPaymentVerifier(opts: {
  orch: { recipient: Uint8Array; recipientRand: bigint };
  sender: Uint8Array;
  expectedPrice: { pricePerUnit: bigint; pixelsPerUnit: bigint };
  lastSeenL1Block: () => bigint;
}) {
  let received = Rat.ZERO;
  let wins = 0;
  const recipient = createTicketRecipient({
    recipient: opts.orch.recipient,
    recipientRand: () => opts.orch.recipientRand,
    priceAccepted: (p) => p.pricePerUnit === opts.expectedPrice.pricePerUnit && p.pixelsPerUnit === opts.expectedPrice.pixelsPerUnit,
    lastSeenL1Block: opts.lastSeenL1Block,
  });
  return {
    accept(paymentHeader: string, segmentHeader: string, manifestId: string): Payment {
      const payment = decodePaymentHeader(paymentHeader);
      if (!bytesEqual(payment.sender, opts.sender)) throw new Error("unexpected sender");
      const { ev, winningNonces } = recipient.receive(payment);
      verifySegmentHeader(segmentHeader, payment.sender, manifestId);
      received = received.add(ev);
      wins += winningNonces.length;
      return payment;
    },
    received: () => received,
    wins: () => wins,
    nonces: () => recipient.nonces(),
  };
}
