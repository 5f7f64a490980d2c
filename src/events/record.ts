/**
 * The payment path's side of the outbox: builds a call's event and waits until it is on disk.
 */
import { checksumAddress } from "../crypto/eth-sign.js";
import { GO_ZERO_TIME_NS, elapsedSeconds } from "../go/time.js";
import { Rat } from "../math/rat.js";
import { unavailable } from "../payment/errors.js";
import type { PaymentFacts } from "../payment/generate-payment.js";
import type { PaymentState } from "../state/payment-state.js";
import type { Outbox } from "./outbox.js";
import { encodePaymentEventText, pipelineName, type PaymentEventInput } from "./payment-event.js";

export interface PaymentEvents {
  /** append on the payment path; spend for GetSpend (the dashboard). */
  outbox: Pick<Outbox, "append" | "spend">;
  /** The envelope's gateway (go-livepeer's -gatewayHost; "" by default). */
  gateway: string;
}

// The reference's preloads, in seconds, when no time has passed (a new session).
const PRELOAD_SECS: Record<string, number> = { lv2v: 60, live: 10, byoc: 60 };

/** The event's fields from what the payment steps established; `state` is the one signed. */
export function paymentEventInput(facts: PaymentFacts, state: PaymentState, requestId: string): PaymentEventInput {
  const { req, session, usage, orchPrice, count, now } = facts;
  const previous = session.state.lastUpdate === GO_ZERO_TIME_NS ? now : session.state.lastUpdate;
  let billableSecs = elapsedSeconds(now, previous);
  const preload = PRELOAD_SECS[usage.type];
  if (preload !== undefined && billableSecs <= 0) billableSecs = preload;
  const capability = req.capability ?? "";
  return {
    stateId: state.stateId,
    sequenceNumber: state.sequenceNumber,
    app: state.app,
    jobType: state.type,
    requestId,
    orchAddress: state.orchestratorAddress,
    orchUrl: req.orchestrator.transcoder,
    manifestId: session.manifestId,
    pmSessionId: session.pmSessionId,
    nowNs: now,
    previousNs: previous,
    billableSecs,
    pixels: usage.type === "lv2v" ? usage.units : 0n,
    sessionBalance: count.balance,
    fee: count.fee,
    cost: orchPrice,
    numTickets: count.numTickets,
    authId: state.authId,
    faceValue: count.numTickets > 0 ? session.params.faceValue : 0n,
    totalEv: count.ev.mul(new Rat(BigInt(count.numTickets))),
    capability,
    model: modelName(facts, pipelineName(usage.type) || capability || usage.type),
  };
}

/**
 * "pipeline:model": the request's model id (BYOC), else the one model its capabilities name;
 * "" when there is none or more than one.
 */
function modelName(facts: PaymentFacts, pipeline: string): string {
  let model = facts.req.modelId ?? "";
  if (model === "") {
    const models = new Set<string>();
    const per = facts.session.capabilities?.constraints?.PerCapability ?? {};
    for (const c of Object.values(per)) for (const m of Object.keys(c.models)) models.add(m);
    if (models.size === 1) model = [...models][0]!;
  }
  return model === "" ? "" : `${pipeline}:${model}`;
}

// Checksummed orchestrator addresses, kept: the checksum is a keccak in JavaScript (tens of µs per
// call), and a signer pays a handful of orchestrators. Bounded, in case it pays many.
const orchestrators = new Map<string, string>();
function orchestratorHex(address: Uint8Array): string {
  const raw = Buffer.from(address.buffer, address.byteOffset, address.byteLength).toString("hex");
  let hex = orchestrators.get(raw);
  if (hex === undefined) {
    if (orchestrators.size >= 1024) orchestrators.clear();
    hex = checksumAddress(address);
    orchestrators.set(raw, hex);
  }
  return hex;
}

/** Appends the call's event; resolves once it is on disk. A refusal is the call's unavailability. */
export async function recordPaymentEvent(
  events: PaymentEvents,
  signerAddress: Uint8Array,
  facts: PaymentFacts,
  state: PaymentState,
  requestId: string,
): Promise<void> {
  const input = paymentEventInput(facts, state, requestId);
  const orchestrator = orchestratorHex(input.orchAddress);
  const event = encodePaymentEventText({ signerAddress, gateway: events.gateway }, input, Date.now(), orchestrator);
  // The columns behind the dashboard's spend view: the fee as the event states it (rounded wei).
  const spend = { authId: input.authId, orchestrator, feeWei: BigInt(input.fee.toFixed(0)) };
  try {
    await events.outbox.append([{ ...event, spend }]);
  } catch (err) {
    throw unavailable("the event outbox cannot take the payment's event", err);
  }
}
