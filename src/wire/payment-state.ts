import { bufferView, fromHex, toHex, utf8 } from "../crypto/bytes.js";
import { goJsonString, JsonSyntaxError, JsonTypeError, parseGoJson } from "../go/json.js";
import { goInt64, goString, goStruct, goUint32, goUint64, readGoStruct, type GoType } from "../go/struct.js";
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

/** time.Time reads an RFC 3339 string (its UnmarshalJSON); null leaves it unset. */
const goTime: GoType<bigint> = {
  goName: "time.Time",
  decode(v) {
    const parsed = v.kind === "string" ? parseGoTime(v.value) : undefined;
    if (parsed === undefined) throw new InvalidStateError("invalid state: LastUpdate is not an RFC 3339 time");
    return parsed;
  },
};

/** go-ethereum's common.Address: a 0x-prefixed 20-byte hex string; its UnmarshalJSON refuses null. */
const goAddress: GoType<Uint8Array> = {
  goName: "common.Address",
  decodeNull() {
    throw new InvalidStateError("invalid state: OrchestratorAddress is null");
  },
  decode(v) {
    if (v.kind !== "string" || !/^0[xX][0-9a-fA-F]{40}$/.test(v.value)) {
      throw new InvalidStateError("invalid state: OrchestratorAddress is not a 0x-prefixed 20-byte hex address");
    }
    return fromHex(v.value);
  },
};

const RemotePaymentState = goStruct("server.RemotePaymentState", {
  stateId: ["StateID", goString],
  pmSessionId: ["PMSessionID", goString],
  lastUpdate: ["LastUpdate", goTime],
  orchestratorAddress: ["OrchestratorAddress", goAddress],
  app: ["App", goString],
  authExpiry: ["AuthExpiry", goInt64],
  senderNonce: ["SenderNonce", goUint32],
  balance: ["Balance", goString],
  initialPricePerUnit: ["InitialPricePerUnit", goInt64],
  initialPixelsPerUnit: ["InitialPixelsPerUnit", goInt64],
  type: ["Type", goString],
  sequenceNumber: ["SequenceNumber", goUint64],
  authId: ["AuthID", goString],
});

/** Parses state JSON as the reference's json.Unmarshal does (case-insensitive keys, strict integer types). */
export function decodeState(bytes: Uint8Array): PaymentState {
  let s;
  try {
    s = readGoStruct(RemotePaymentState, parseGoJson(bufferView(bytes).toString("utf8"), "unmarshal"));
  } catch (err) {
    if (err instanceof JsonTypeError || err instanceof JsonSyntaxError) {
      throw new InvalidStateError(`invalid state: ${err.message}`, { cause: err });
    }
    throw err;
  }
  if (!s) throw new InvalidStateError("invalid state: not an object");
  return {
    stateId: s.stateId ?? "",
    pmSessionId: s.pmSessionId ?? "",
    lastUpdate: s.lastUpdate ?? GO_ZERO_TIME_NS,
    orchestratorAddress: s.orchestratorAddress ?? new Uint8Array(20),
    app: s.app ?? "",
    authExpiry: s.authExpiry ?? 0n,
    senderNonce: Number(s.senderNonce ?? 0n),
    balance: s.balance ?? "",
    initialPricePerUnit: s.initialPricePerUnit ?? 0n,
    initialPixelsPerUnit: s.initialPixelsPerUnit ?? 0n,
    type: s.type ?? "",
    sequenceNumber: s.sequenceNumber ?? 0n,
    authId: s.authId ?? "",
  };
}
