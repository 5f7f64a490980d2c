import { bufferView, ownString } from "../crypto/bytes.js";
import { INT64_MAX, INT64_MIN, UINT64_MAX } from "../go/int64.js";
import type { Rat } from "../math/rat.js";
import { dropOldest } from "../ordered-map.js";
import type { PaymentState } from "../wire/payment-state.js";

/** Signed state bytes and their signature, as they travel. */
export interface SignedStateBytes {
  state: Uint8Array;
  sig: Uint8Array;
}

/** About 1 KiB an entry: at most ~8 MiB per process. */
export const ISSUED_STATES_CAPACITY = 8192;
/**
 * An entry not sent back within this is dropped: a live session calls every few seconds, and a
 * session that ends leaves its last state behind, which would otherwise stay until the capacity
 * pushed it out (at a few ended sessions a second, more than half an hour of slow growth).
 */
export const ISSUED_STATES_MAX_AGE_MS = 60_000;

/**
 * The states this process (one signer key) signed most recently, by signature. A gateway sends
 * back the state it was given, most often over the same keep-alive connection and so to the same
 * process; when the bytes and signature are exactly ones we produced, recovering the signer (the
 * costliest step of a call: libsecp256k1's verification tables are cold between requests) and
 * parsing the Go JSON are known to give back our address and this state, so both are skipped.
 * Anything else (another replica's state, an evicted or already used one, any changed byte) takes
 * the full verification.
 *
 * An entry is used once: a session's next state replaces it, so the memo holds about one entry
 * per active session and each dies young. (Kept until evicted, entries outlived the young
 * generation and their churn through the old one showed as 12-26 ms p99 pauses under load.)
 */
export class IssuedStates {
  /** Insertion order is age order: an entry is added once and leaves when used or too old. */
  private readonly bySig = new Map<string, { bytes: Uint8Array; state: PaymentState; credit: Rat | undefined; at: number }>();

  constructor(
    private readonly capacity = ISSUED_STATES_CAPACITY,
    private readonly maxAgeMs = ISSUED_STATES_MAX_AGE_MS,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.bySig.size;
  }

  /**
   * Records a state just signed; kept only when parsing its bytes would give it back exactly.
   * `credit` is its Balance as a number, kept when it is exactly what the text says.
   */
  remember(signed: SignedStateBytes, state: PaymentState, credit?: Rat): void {
    if (!parsesBackExactly(state)) return;
    const now = this.nowMs();
    const oldest = now - this.maxAgeMs;
    dropOldest(this.bySig, (entry) => entry.at >= oldest, this.capacity - 1);
    const exactCredit = credit !== undefined && credit.toString() === state.balance ? credit : undefined;
    this.bySig.set(sigKey(signed.sig), { bytes: signed.state, state: ownCopy(state), credit: exactCredit, at: now });
  }

  /**
   * The state (and its credit, when known), when exactly these bytes under exactly this signature
   * were signed here; used once.
   */
  recall(signed: SignedStateBytes): { state: PaymentState; credit: Rat | undefined } | undefined {
    if (signed.sig.length !== 65) return undefined;
    const key = sigKey(signed.sig);
    const entry = this.bySig.get(key);
    if (!entry || !bufferView(entry.bytes).equals(signed.state)) return undefined;
    this.bySig.delete(key);
    if (entry.at < this.nowMs() - this.maxAgeMs) return undefined;
    return { state: entry.state, credit: entry.credit };
  }
}

/**
 * A copy of the state whose strings hold nothing else: nothing the caller does to its object
 * afterwards reaches the next call, and no string is a slice of a request body or webhook reply
 * (V8 slices strings of 13 characters and more, and a slice keeps the whole of its parent alive
 * for as long as the entry lives; parsesBackExactly has checked they are well-formed). The
 * balance and type are not copied: the payment steps always write them (from the credit and the
 * job type).
 */
function ownCopy(s: PaymentState): PaymentState {
  return { ...s, stateId: ownString(s.stateId), pmSessionId: ownString(s.pmSessionId), app: ownString(s.app), authId: ownString(s.authId) };
}

function sigKey(sig: Uint8Array): string {
  return bufferView(sig).toString("latin1");
}

const inRange = (v: bigint, min: bigint, max: bigint) => v >= min && v <= max;

/**
 * decodeState(encodeState(s)) equals s: strings without lone surrogates (which Go's JSON writes as
 * U+FFFD) and integers within the Go types the JSON is read into. States built by the payment
 * steps always are; this keeps the shortcut exact if one ever is not.
 */
function parsesBackExactly(s: PaymentState): boolean {
  return (
    s.stateId.isWellFormed() &&
    s.pmSessionId.isWellFormed() &&
    s.app.isWellFormed() &&
    s.balance.isWellFormed() &&
    s.type.isWellFormed() &&
    s.authId.isWellFormed() &&
    s.orchestratorAddress.length === 20 &&
    Number.isInteger(s.senderNonce) &&
    s.senderNonce >= 0 &&
    s.senderNonce <= 0xffffffff &&
    inRange(s.authExpiry, INT64_MIN, INT64_MAX) &&
    inRange(s.initialPricePerUnit, INT64_MIN, INT64_MAX) &&
    inRange(s.initialPixelsPerUnit, INT64_MIN, INT64_MAX) &&
    inRange(s.sequenceNumber, 0n, UINT64_MAX)
  );
}
