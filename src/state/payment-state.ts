import { fromHex, toHex, utf8 } from "../crypto/bytes.js";
import { verifySignature, type EthSigner } from "../crypto/eth-sign.js";
import {
  JsonSyntaxError,
  JsonTypeError,
  getField,
  goJsonString,
  parseGoJson,
  readInteger,
  readObject,
  readString,
} from "../go/json.js";
import { GO_ZERO_TIME_NS, formatGoTime, parseGoTime } from "../go/time.js";

/**
 * The per-session accounting that travels with the gateway, signed by the signer.
 * Field for field go-livepeer's RemotePaymentState, so two signers sharing a key accept
 * each other's states.
 */
export interface PaymentState {
  stateId: string;
  /** recipientRandHash of the last params used, 0x + 64 lowercase hex; empty before the first ticket. */
  pmSessionId: string;
  /** Nanoseconds since the Unix epoch; GO_ZERO_TIME_NS when never updated. */
  lastUpdate: bigint;
  /** 20 bytes */
  orchestratorAddress: Uint8Array;
  app: string;
  authExpiry: bigint;
  senderNonce: number;
  /** Exact rational credit at the orchestrator, Go big.Rat text; empty on a new state. */
  balance: string;
  initialPricePerUnit: bigint;
  initialPixelsPerUnit: bigint;
  type: string;
  sequenceNumber: bigint;
  authId: string;
}

export class InvalidStateError extends Error {
  override name = "InvalidStateError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** The state's JSON exactly as Go's json.Marshal writes RemotePaymentState. */
export function encodeState(s: PaymentState): Uint8Array {
  const str = goJsonString;
  const json =
    `{"StateID":${str(s.stateId)},"PMSessionID":${str(s.pmSessionId)},` +
    `"LastUpdate":${str(formatGoTime(s.lastUpdate))},"OrchestratorAddress":${str("0x" + toHex(s.orchestratorAddress))},` +
    `"App":${str(s.app)},"AuthExpiry":${s.authExpiry},"SenderNonce":${s.senderNonce},"Balance":${str(s.balance)},` +
    `"InitialPricePerUnit":${s.initialPricePerUnit},"InitialPixelsPerUnit":${s.initialPixelsPerUnit},` +
    `"Type":${str(s.type)},"SequenceNumber":${s.sequenceNumber},"AuthID":${str(s.authId)}}`;
  return utf8.encode(json);
}

/** Parses state JSON with Go's decoding rules (case-insensitive keys, strict integer types). */
export function decodeState(bytes: Uint8Array): PaymentState {
  let root;
  try {
    root = readObject(parseGoJson(Buffer.from(bytes).toString("utf8"), "unmarshal"), "state");
  } catch (err) {
    throw new InvalidStateError("invalid state", { cause: err });
  }
  if (!root) throw new InvalidStateError("invalid state: not an object");
  try {
    const f = (name: string) => getField(root, name);
    const lastUpdateText = readString(f("LastUpdate"), "LastUpdate");
    let lastUpdate = GO_ZERO_TIME_NS;
    if (lastUpdateText !== undefined) {
      const parsed = parseGoTime(lastUpdateText);
      if (parsed === undefined) throw new InvalidStateError("invalid state: LastUpdate is not an RFC 3339 time");
      lastUpdate = parsed;
    }
    // go-ethereum's Address refuses null (its UnmarshalJSON wants a string).
    if (f("OrchestratorAddress")?.kind === "null") throw new InvalidStateError("invalid state: OrchestratorAddress is null");
    const addrText = readString(f("OrchestratorAddress"), "OrchestratorAddress");
    let orchestratorAddress: Uint8Array = new Uint8Array(20);
    if (addrText !== undefined) {
      if (!/^0[xX][0-9a-fA-F]{40}$/.test(addrText)) {
        throw new InvalidStateError("invalid state: OrchestratorAddress is not a 0x-prefixed 20-byte hex address");
      }
      orchestratorAddress = fromHex(addrText);
    }
    return {
      stateId: readString(f("StateID"), "StateID") ?? "",
      pmSessionId: readString(f("PMSessionID"), "PMSessionID") ?? "",
      lastUpdate,
      orchestratorAddress,
      app: readString(f("App"), "App") ?? "",
      authExpiry: readInteger(f("AuthExpiry"), "AuthExpiry", INT64_MIN, INT64_MAX) ?? 0n,
      senderNonce: Number(readInteger(f("SenderNonce"), "SenderNonce", 0n, 0xffff_ffffn) ?? 0n),
      balance: readString(f("Balance"), "Balance") ?? "",
      initialPricePerUnit: readInteger(f("InitialPricePerUnit"), "InitialPricePerUnit", INT64_MIN, INT64_MAX) ?? 0n,
      initialPixelsPerUnit: readInteger(f("InitialPixelsPerUnit"), "InitialPixelsPerUnit", INT64_MIN, INT64_MAX) ?? 0n,
      type: readString(f("Type"), "Type") ?? "",
      sequenceNumber: readInteger(f("SequenceNumber"), "SequenceNumber", 0n, (1n << 64n) - 1n) ?? 0n,
      authId: readString(f("AuthID"), "AuthID") ?? "",
    };
  } catch (err) {
    if (err instanceof InvalidStateError) throw err;
    if (err instanceof JsonTypeError || err instanceof JsonSyntaxError) {
      throw new InvalidStateError(`invalid state: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

export interface SignedState {
  state: Uint8Array;
  sig: Uint8Array;
}

export function signState(state: PaymentState, signer: EthSigner): SignedState {
  const bytes = encodeState(state);
  return { state: bytes, sig: signer.sign(bytes) };
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
