import { verifySignature, type EthSigner } from "../crypto/eth-sign.js";
import { decodeState, encodeState, InvalidStateError, type PaymentState } from "../wire/payment-state.js";
import type { Rat } from "../math/rat.js";
import type { IssuedStates } from "./issued-states.js";

// The JSON form lives in wire/; the state's users import it from here with signing and opening.
export { decodeState, encodeState, InvalidStateError, type PaymentState } from "../wire/payment-state.js";

export interface SignedState {
  state: Uint8Array;
  sig: Uint8Array;
}

/**
 * Encodes and signs the state; `issued` remembers it (with `credit`, its Balance as a number) so
 * its return skips the verification and the parse.
 */
export function signState(state: PaymentState, signer: EthSigner, issued?: IssuedStates, credit?: Rat): SignedState {
  const bytes = encodeState(state);
  return issuedState(bytes, signer.sign(bytes), state, issued, credit);
}

/** signState in two steps, for a remote key: the bytes to sign, then the signed state once the signature is in. */
export function planState(state: PaymentState, issued?: IssuedStates, credit?: Rat): { bytes: Uint8Array; finish(sig: Uint8Array): SignedState } {
  const bytes = encodeState(state);
  return { bytes, finish: (sig) => issuedState(bytes, sig, state, issued, credit) };
}

function issuedState(bytes: Uint8Array, sig: Uint8Array, state: PaymentState, issued?: IssuedStates, credit?: Rat): SignedState {
  const signed = { state: bytes, sig };
  issued?.remember(signed, state, credit);
  return signed;
}

/** The state's signature does not verify for the signer's address. */
export class InvalidStateSignatureError extends Error {
  override name = "InvalidStateSignatureError";
  constructor() {
    super("invalid sig");
  }
}

/** Verifies the signature over exactly the received bytes, then parses them. */
export function openState(signed: SignedState, signerAddress: Uint8Array): PaymentState {
  if (!verifySignature(signerAddress, signed.state, signed.sig)) throw new InvalidStateSignatureError();
  return decodeState(signed.state);
}

/** openState as a result: the state, or the reference's reason ("invalid sig" / "invalid state"). */
export function readSignedState(
  signed: SignedState,
  signerAddress: Uint8Array,
  issued?: IssuedStates,
): { ok: true; state: PaymentState; credit?: Rat } | { ok: false; message: "invalid sig" | "invalid state"; cause: Error } {
  const recalled = issued?.recall(signed);
  if (recalled) return { ok: true, ...recalled };
  try {
    return { ok: true, state: openState(signed, signerAddress) };
  } catch (err) {
    if (err instanceof InvalidStateSignatureError) return { ok: false, message: "invalid sig", cause: err };
    if (err instanceof InvalidStateError) return { ok: false, message: "invalid state", cause: err };
    throw err;
  }
}
