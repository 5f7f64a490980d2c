import { create } from "@bufbuild/protobuf";
import {
  PaymentSchema,
  TicketExpirationParamsSchema,
  TicketParamsSchema,
  TicketSenderParamsSchema,
  type Payment,
  type PriceInfo,
} from "../../gen/net/lp_rpc_pb.js";
import { bigintToBytes } from "../crypto/bytes.js";
import type { EthSigner } from "../crypto/eth-sign.js";
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
  /** The last nonce used. */
  lastNonce: number;
}

const MAX_UINT32 = 0xffff_ffff;

/** Signs `count` tickets against one set of params and packs them as net.Payment (the reference's genPayment). */
export function createPayment({
  params,
  expectedPrice,
  fallbackExpiration,
  lastNonce,
  count,
  signer,
}: CreatePaymentParameters): CreatePaymentReturnType {
  const expiration = lacksExpiration(params.expiration) ? fallbackExpiration : params.expiration;
  const ticketSenderParams = [];
  let nonce = lastNonce;
  for (let i = 0; i < count; i++) {
    // uint32 arithmetic, as the reference's atomic.AddUint32.
    nonce = nonce === MAX_UINT32 ? 0 : nonce + 1;
    const hash = ticketHash({
      recipient: params.recipient,
      sender: signer.address,
      faceValue: params.faceValue,
      winProb: params.winProb,
      senderNonce: nonce,
      recipientRandHash: params.recipientRandHash,
      expiration,
    });
    ticketSenderParams.push(create(TicketSenderParamsSchema, { senderNonce: nonce, sig: signer.sign(hash) }));
  }
  const payment = create(PaymentSchema, {
    sender: signer.address,
    expectedPrice,
    ticketParams: create(TicketParamsSchema, {
      recipient: params.recipient,
      faceValue: bigintToBytes(params.faceValue),
      winProb: bigintToBytes(params.winProb),
      recipientRandHash: params.recipientRandHash,
      seed: bigintToBytes(params.seed),
      expirationBlock: bigintToBytes(params.expirationBlock),
    }),
    expirationParams: create(TicketExpirationParamsSchema, {
      creationRound: expiration.creationRound,
      creationRoundBlockHash: expiration.creationRoundBlockHash,
    }),
    ticketSenderParams,
  });
  return { payment, lastNonce: nonce };
}
