import { randomHexId } from "../crypto/random-id.js";
import type { Capabilities, PriceInfo } from "../../gen/net/lp_rpc_pb.js";
import { bytesEqual, toHex } from "../crypto/bytes.js";
import { GO_ZERO_TIME_NS } from "../go/time.js";
import { Rat } from "../math/rat.js";
import { readTicketParams, type TicketParams } from "../pm/ticket-params.js";
import { jobTypeName } from "../pricing/job-type.js";
import { perCapabilityPrice } from "../byoc/pricing.js";
import { readSignedState, type PaymentState } from "../state/payment-state.js";
import { invalidArgument } from "./errors.js";
import type { PaymentDeps, PaymentRequest } from "./generate-payment.js";

/** Bounds on request strings; the reference has none, which lets a client bloat signed state. */
export const MAX_ID_LENGTH = 256;
/** The longest orchestrator service URL taken (OrchestratorInfo.transcoder). */
export const MAX_URL_LENGTH = 2048;

/** What steps 1-6 establish: the session's state, its manifest, capabilities, params and credit. */
export interface Session {
  /** The restored state (sequence advanced, type set) or a new one. */
  state: PaymentState;
  /** The request carried a state. */
  resumed: boolean;
  manifestId: string;
  capabilities: Capabilities | undefined;
  /** The orchestrator's price, or the per-capability BYOC price that replaces it (-byocPerCapPricing). */
  priceInfo: PriceInfo;
  /** priceInfo is a per-capability BYOC price: billed per compute-second. */
  perCapabilityPrice: boolean;
  params: TicketParams;
  /** The params' recipientRandHash, 0x-hex: the PM session. */
  pmSessionId: string;
  /** The last nonce used in this PM session (0 when the params are new). */
  lastNonce: number;
  /** Credit the state carries. */
  credit: Rat;
}

const defaultRandomId = () => randomHexId(4);

function checkLength(value: string, field: string): void {
  if (value.length > MAX_ID_LENGTH) throw invalidArgument(`${field}: longer than ${MAX_ID_LENGTH} characters`);
}

/** Steps 1-6 in the reference's order (PROTOCOL.md section 7): input, state, manifest, capabilities, params, nonce. */
export function openSession(deps: PaymentDeps, req: PaymentRequest): Session {
  const { orchestrator: info } = req;
  // The BYOC branch's per-capability price replaces the base one before any check uses it.
  const capPrice = deps.byoc?.perCapPricing
    ? perCapabilityPrice({
        perCapPricing: true,
        type: "known" in req.type ? req.type.known : "",
        capability: req.capability ?? "",
        caps: req.capabilities.ok ? req.capabilities.value : undefined,
        info,
      })
    : undefined;
  const priceInfo = capPrice ?? info.priceInfo;
  if (!priceInfo || priceInfo.pricePerUnit === 0n || priceInfo.pixelsPerUnit === 0n) {
    throw invalidArgument("missing or zero priceInfo");
  }
  if (!info.ticketParams) throw invalidArgument("missing ticketParams in OrchestratorInfo");
  // Stricter than the reference, which lets a negative price through to odd outcomes.
  if (priceInfo.pricePerUnit < 0n || priceInfo.pixelsPerUnit < 0n) {
    throw invalidArgument("orchestrator.price_info: price must be positive");
  }
  checkLength(req.manifestId, "ManifestID");
  checkLength(req.app, "app");
  if (deps.byoc?.enabled) {
    checkLength(req.capability ?? "", "capability");
    checkLength(req.modelId ?? "", "model_id");
  }
  checkLength(req.authIdHeader, "Signer-Auth-Id");
  checkLength(req.requestId ?? "", "X-Request-Id");
  // The service URL goes into the usage event (orch_url): bounded, so an orchestrator cannot make
  // events larger than a Kafka broker takes. Real ones are a few dozen characters.
  if (info.transcoder.length > MAX_URL_LENGTH) throw invalidArgument(`orchestrator.transcoder: longer than ${MAX_URL_LENGTH} characters`);
  const orchAddress = goAddress(info.address);
  const randomId = deps.randomId ?? defaultRandomId;
  const type = jobTypeName(req.type);

  // Step 3: restore and check the state, or start a session.
  const resumed = req.state !== undefined && (req.state.state.length > 0 || req.state.sig.length > 0);
  let state: PaymentState;
  /** The Balance as a number when the state was recalled with it (else parsed below). */
  let knownCredit: Rat | undefined;
  if (resumed) {
    const opened = readSignedState(req.state!, deps.signer.address, deps.issuedStates);
    if (!opened.ok) throw invalidArgument(opened.message, opened.cause);
    state = opened.state;
    knownCredit = opened.credit;
    if (!bytesEqual(state.orchestratorAddress, orchAddress)) throw invalidArgument("orchestratorAddress mismatch");
    if (state.app !== req.app) throw invalidArgument("app mismatch");
    if (state.type !== "" && state.type !== type) throw invalidArgument("job type mismatch");
    state = { ...state, type, sequenceNumber: BigInt.asUintN(64, state.sequenceNumber + 1n) };
  } else {
    state = {
      stateId: randomId(),
      pmSessionId: "",
      lastUpdate: GO_ZERO_TIME_NS,
      orchestratorAddress: orchAddress,
      app: req.app,
      authExpiry: 0n,
      senderNonce: 0,
      balance: "",
      initialPricePerUnit: priceInfo.pricePerUnit,
      initialPixelsPerUnit: priceInfo.pixelsPerUnit,
      type,
      sequenceNumber: 0n,
      authId: "",
    };
  }

  // Step 4: a session keeps its manifest id.
  let manifestId = req.manifestId;
  if (manifestId === "") {
    if (resumed) throw invalidArgument("missing manifestID");
    manifestId = randomId();
  }

  // Step 5: capabilities, decoded by the transport; its error is raised here.
  if (!req.capabilities.ok) throw req.capabilities.error;

  // Step 6: nonce and credit carried by the state.
  const decoded = readTicketParams(info.ticketParams);
  if (!decoded.ok) throw invalidArgument(decoded.message);
  const pmSessionId = "0x" + toHex(decoded.params.recipientRandHash);
  let credit = knownCredit ?? Rat.ZERO;
  if (knownCredit === undefined && state.balance !== "") {
    const parsed = Rat.parse(state.balance);
    if (!parsed) throw invalidArgument("invalid state: Balance is not a rational number");
    credit = parsed;
  }
  return {
    state,
    resumed,
    manifestId,
    capabilities: req.capabilities.value,
    priceInfo,
    perCapabilityPrice: capPrice !== undefined,
    params: decoded.params,
    pmSessionId,
    lastNonce: state.pmSessionId === pmSessionId ? state.senderNonce : 0,
    credit,
  };
}

/** go-ethereum's BytesToAddress: the last 20 bytes, left-padded when shorter. */
function goAddress(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(20);
  const tail = bytes.subarray(Math.max(0, bytes.length - 20));
  out.set(tail, 20 - tail.length);
  return out;
}
