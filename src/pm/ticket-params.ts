import { bytesToBigint } from "../crypto/bytes.js";
import type { TicketParams as NetTicketParams } from "../../gen/net/lp_rpc_pb.js";
import type { ExpirationParams } from "./ticket.js";

/** An orchestrator's ticket params, decoded from net.TicketParams. */
export interface TicketParams {
  recipient: Uint8Array;
  faceValue: bigint;
  winProb: bigint;
  recipientRandHash: Uint8Array;
  seed: bigint;
  expirationBlock: bigint;
  /** The orchestrator's expiration params, zero when it sent none. */
  expiration: ExpirationParams;
}

export class TicketParamsError extends Error {
  override name = "TicketParamsError";
  constructor(readonly field: string, reason: string) {
    super(`orchestrator.ticket_params.${field}: ${reason}`);
  }
}

function fixed(value: Uint8Array, size: number, field: string): Uint8Array {
  if (value.length !== size) throw new TicketParamsError(field, `must be ${size} bytes, got ${value.length}`);
  return value;
}

function uint256(value: Uint8Array, field: string): bigint {
  if (value.length > 32) throw new TicketParamsError(field, `must be at most 32 bytes, got ${value.length}`);
  return bytesToBigint(value);
}

/**
 * Decodes and bounds the orchestrator's params. Stricter than the reference, which would
 * silently truncate or pad malformed fields into tickets no contract could redeem.
 */
export function decodeTicketParams(p: NetTicketParams): TicketParams {
  // go-ethereum's BytesToHash: left-padded when shorter, the last 32 bytes when longer.
  const raw = p.expirationParams?.creationRoundBlockHash ?? new Uint8Array(0);
  const blockHash = new Uint8Array(32);
  const tail = raw.subarray(Math.max(0, raw.length - 32));
  blockHash.set(tail, 32 - tail.length);
  return {
    recipient: fixed(p.recipient, 20, "recipient"),
    faceValue: uint256(p.faceValue, "face_value"),
    winProb: uint256(p.winProb, "win_prob"),
    recipientRandHash: fixed(p.recipientRandHash, 32, "recipient_rand_hash"),
    seed: uint256(p.seed, "seed"),
    expirationBlock: uint256(p.expirationBlock, "expiration_block"),
    expiration: {
      creationRound: p.expirationParams?.creationRound ?? 0n,
      creationRoundBlockHash: blockHash,
    },
  };
}

/** Params decoded from a frozen (shared, unchangeable) message: a session's calls decode them once. */
const decodedFrozen = new WeakMap<NetTicketParams, TicketParams>();

/** decodeTicketParams as a result: the params, or the field and reason they were refused for. */
export function readTicketParams(p: NetTicketParams): { ok: true; params: TicketParams } | { ok: false; message: string } {
  const known = decodedFrozen.get(p);
  if (known) return { ok: true, params: known };
  try {
    const params = decodeTicketParams(p);
    if (Object.isFrozen(p)) decodedFrozen.set(p, Object.freeze(params));
    return { ok: true, params };
  } catch (err) {
    if (err instanceof TicketParamsError) return { ok: false, message: err.message };
    throw err;
  }
}
