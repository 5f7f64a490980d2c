import { fromBinary } from "@bufbuild/protobuf";
import { PaymentSchema, SegDataSchema, type Payment } from "../../gen/net/lp_rpc_pb.js";
import { bytesEqual, bytesToBigint, concatBytes, keccak256, writeUint256 } from "../../src/crypto/bytes.js";
import { verifySignature } from "../../src/crypto/eth-sign.js";
import { flattenEmptySegment } from "../../src/pm/seg-creds.js";
import { Rat } from "../../src/math/rat.js";
import { ticketEV, ticketHash } from "../../src/pm/ticket.js";
import type { TestOrchestrator } from "./fixtures.js";

/**
 * A test-only orchestrator that checks payments as go-livepeer's recipient does (PROTOCOL.md
 * section 13): recipient, recipientRandHash, signature, nonce uniqueness, expiration, price,
 * and the segment credentials. It keeps the orchestrator-side balance: EV received minus fees.
 */
export function createPaymentVerifier(opts: {
  orch: TestOrchestrator;
  sender: Uint8Array;
  expectedPrice: { pricePerUnit: bigint; pixelsPerUnit: bigint };
  lastSeenL1Block: () => bigint;
}) {
  const seen = new Set<number>();
  let received = Rat.ZERO;
  let wins = 0;
  const randBytes = new Uint8Array(32);
  writeUint256(randBytes, 0, opts.orch.recipientRand);

  return {
    /** Verifies a Livepeer-Payment and Livepeer-Segment header pair; throws on the first failure. */
    accept(paymentHeader: string, segmentHeader: string, manifestId: string): Payment {
      const payment = fromBinary(PaymentSchema, Buffer.from(paymentHeader, "base64"));
      if (payment.sender.length === 0) throw new Error("missing sender");
      if (!bytesEqual(payment.sender, opts.sender)) throw new Error("unexpected sender");
      const tp = payment.ticketParams;
      if (!tp) throw new Error("missing ticket params");
      if (!bytesEqual(tp.recipient, opts.orch.recipient)) throw new Error("wrong recipient");
      if (!bytesEqual(keccak256(randBytes), tp.recipientRandHash)) throw new Error("recipientRandHash mismatch");
      const price = payment.expectedPrice;
      if (!price || price.pixelsPerUnit === 0n) throw new Error("invalid expected price");
      if (price.pricePerUnit !== opts.expectedPrice.pricePerUnit || price.pixelsPerUnit !== opts.expectedPrice.pixelsPerUnit) {
        throw new Error("expected price differs from quoted price");
      }
      if (bytesToBigint(tp.expirationBlock) <= opts.lastSeenL1Block()) throw new Error("ticket params expired");
      const exp = payment.expirationParams;
      const faceValue = bytesToBigint(tp.faceValue);
      const winProb = bytesToBigint(tp.winProb);
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
        if (!verifySignature(payment.sender, hash, tsp.sig)) throw new Error(`invalid ticket signature (nonce ${tsp.senderNonce})`);
        if (seen.has(tsp.senderNonce)) throw new Error(`invalid ticket senderNonce ${tsp.senderNonce}: already seen`);
        seen.add(tsp.senderNonce);
        received = received.add(ticketEV(faceValue, winProb));
        if (bytesToBigint(keccak256(concatBytes(tsp.sig, randBytes))) < winProb) wins++;
      }
      const seg = fromBinary(SegDataSchema, Buffer.from(segmentHeader, "base64"));
      if (Buffer.from(seg.manifestId).toString("utf8") !== manifestId) throw new Error("segment manifest id mismatch");
      if (!verifySignature(payment.sender, keccak256(flattenEmptySegment(manifestId)), seg.sig)) {
        throw new Error("invalid segment signature");
      }
      if (!seg.authToken) throw new Error("missing auth token");
      return payment;
    },
    received: () => received,
    wins: () => wins,
    nonces: () => [...seen].sort((a, b) => a - b),
  };
}
