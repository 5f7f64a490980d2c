import { keccak256, writeUint256 } from "../crypto/bytes.js";
import { Rat } from "../math/rat.js";

/** 2^256 - 1: a ticket with this winProb always wins. */
export const MAX_WIN_PROB = (1n << 256n) - 1n;
const MAX_WIN_PROB_RAT = new Rat(MAX_WIN_PROB);

/** The round and block hash a ticket is bound to (the ticket's auxData). */
export interface ExpirationParams {
  creationRound: bigint;
  /** 32 bytes */
  creationRoundBlockHash: Uint8Array;
}

export interface Ticket {
  recipient: Uint8Array;
  sender: Uint8Array;
  faceValue: bigint;
  winProb: bigint;
  senderNonce: number;
  recipientRandHash: Uint8Array;
  expiration: ExpirationParams;
}

function isZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}

/** True when the params carry no round: auxData is then empty. */
export function isEmptyExpiration(p: ExpirationParams): boolean {
  return p.creationRound === 0n && isZero(p.creationRoundBlockHash);
}

/**
 * True when an orchestrator's expiration params cannot be used as they are: the sender then
 * binds tickets to its own last initialized round (pm/sender.go: round 0 OR zero hash).
 */
export function lacksExpiration(p: ExpirationParams): boolean {
  return p.creationRound === 0n || isZero(p.creationRoundBlockHash);
}

/** The packed ticket, reused: ticketHash is synchronous, and a new one per ticket was one more ArrayBuffer to sweep. */
const packed = new Uint8Array(232);

/**
 * keccak256(abi.encodePacked(recipient, sender, faceValue, winProb, senderNonce,
 * recipientRandHash, auxData)), the hash TicketBroker checks signatures against.
 */
export function ticketHash(t: Ticket): Uint8Array {
  const withAux = !isEmptyExpiration(t.expiration);
  const buf = packed.subarray(0, 20 + 20 + 32 * 4 + (withAux ? 64 : 0));
  // Zeroed as a new array would be: a field shorter than its slot leaves zeros, not the last ticket's bytes.
  buf.fill(0);
  buf.set(t.recipient, 0);
  buf.set(t.sender, 20);
  writeUint256(buf, 40, t.faceValue);
  writeUint256(buf, 72, t.winProb);
  writeUint256(buf, 104, BigInt(t.senderNonce));
  buf.set(t.recipientRandHash, 136);
  if (withAux) {
    // Go pads big.Int(creationRound).Bytes(), which is the absolute value.
    const round = t.expiration.creationRound;
    writeUint256(buf, 168, round < 0n ? -round : round);
    buf.set(t.expiration.creationRoundBlockHash, 200);
  }
  return keccak256(buf);
}

let lastEV: { faceValue: bigint; winProb: bigint; ev: Rat } | undefined;

/** EV = faceValue * winProb / (2^256 - 1), exact. */
export function ticketEV(faceValue: bigint, winProb: bigint): Rat {
  // A call needs it several times and a session's calls share their params: the 256-bit gcds are
  // worth skipping (a Rat is immutable, so the last result can be handed out again).
  if (lastEV && lastEV.faceValue === faceValue && lastEV.winProb === winProb) return lastEV.ev;
  const ev = new Rat(faceValue).mul(new Rat(winProb).div(MAX_WIN_PROB_RAT));
  lastEV = { faceValue, winProb, ev };
  return ev;
}
