/**
 * The `create_signed_ticket` event: go-livepeer's payload (server/remote_signer.go) field for field,
 * in its GatewayEvent envelope (monitor/kafka.go), written as Go's encoding/json writes them
 * (struct fields in order, map keys sorted), so a consumer of go-livepeer's events reads it as is.
 * Additions: face_value, total_ev, job_type, capability and model, fields of their own; and the
 * id, which is derived from the signer, the state and its sequence number instead of random, so a
 * retried call gives the same id and a consumer can deduplicate. proto/livepeer/signer/v1/events.proto
 * describes the same event.
 */
import { createHash, hash } from "node:crypto";
import { checksumAddress } from "../crypto/eth-sign.js";
import { toHex } from "../crypto/bytes.js";
import { goJsonString } from "../go/json.js";
import { formatGoTime } from "../go/time.js";
import type { Rat } from "../math/rat.js";

export const PAYMENT_EVENT_TYPE = "create_signed_ticket";

/** Everything a payment event says, as the payment steps know it. */
export interface PaymentEventInput {
  stateId: string;
  sequenceNumber: bigint;
  app: string;
  /** The job type as the request sent it ("lv2v", "live", "fixed", "byoc" or ""). */
  jobType: string;
  requestId: string;
  orchAddress: Uint8Array;
  orchUrl: string;
  manifestId: string;
  pmSessionId: string;
  nowNs: bigint;
  /** The state's LastUpdate, or nowNs for a new session (as the reference). */
  previousNs: bigint;
  billableSecs: number;
  pixels: bigint;
  sessionBalance: Rat;
  fee: Rat;
  /** The orchestrator's price per unit. */
  cost: Rat;
  numTickets: number;
  authId: string;
  faceValue: bigint;
  /** EV of all the call's tickets. */
  totalEv: Rat;
  capability: string;
  /** "pipeline:model" (go-livepeer #3947), "" when no model is known. */
  model: string;
}

export interface EncodedEvent {
  id: string;
  key: string;
  value: Uint8Array;
}

/** As EncodedEvent, the value as its JSON text (what the payment path hands the outbox). */
export interface EncodedEventText {
  id: string;
  key: string;
  value: string;
}

// A fixed namespace for the name-based (version 5) ids: one per application.
const NAMESPACE = Buffer.from("6c70736967e14e7b9a2f0c1d6576e701", "hex");

/**
 * The event id: a version-5 (SHA-1, name-based) UUID of signer address, StateID and
 * SequenceNumber. A UUID as go-livepeer's random ids are, but the same for the same state.
 */
export function paymentEventId(signerAddress: Uint8Array, stateId: string, sequenceNumber: bigint): string {
  const name = `${signerHex(signerAddress)}/${stateId}/${sequenceNumber}`;
  const size = NAMESPACE.length + Buffer.byteLength(name);
  const data = size <= ID_INPUT.length ? ID_INPUT : Buffer.concat([NAMESPACE, Buffer.alloc(size - NAMESPACE.length)]);
  data.write(name, NAMESPACE.length);
  const x = sha1Hex(data.subarray(0, size));
  // The version (5) and the RFC 4122 variant, in place of their bits of the hash.
  const variant = ((parseInt(x[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-5${x.slice(13, 16)}-${variant}${x.slice(17, 20)}-${x.slice(20, 32)}`;
}

// The namespace and the name, written into one buffer: ids are made one at a time, on the event loop.
const ID_INPUT = Buffer.alloc(512);
NAMESPACE.copy(ID_INPUT);
// Node's one-shot hash (20.12 and later) makes no Hash object: about half the time of createHash
// with its digest and slices (measured: 0.9 against 1.9 µs per id), and this runs on every payment.
const sha1Hex: (data: Buffer) => string =
  typeof hash === "function" ? (data) => hash("sha1", data, "hex") : (data) => createHash("sha1").update(data).digest("hex");

// The signer's address as hex, kept: a process has one signer, and this runs on every payment.
let lastSigner: { address: Uint8Array; hex: string } | undefined;
function signerHex(address: Uint8Array): string {
  if (lastSigner?.address !== address) lastSigner = { address, hex: toHex(address) };
  return lastSigner.hex;
}

/** The reference's pipeline names by job type. */
export function pipelineName(jobType: string): string {
  return jobType === "lv2v" ? "live-video-to-video" : jobType === "live" ? "live" : jobType === "fixed" ? "fixed" : "";
}

/** Go's float64 JSON form: 'f' between 1e-6 and 1e21, else an exponent without leading zeros, as JavaScript's. */
function goFloat(x: number): string {
  return Number.isFinite(x) ? String(x) : "0";
}

const NS_PER_MS = 1_000_000n;
const utf8 = new TextEncoder();

/** The envelope and payload bytes, as go-livepeer would write them, plus the deterministic id. */
export function encodePaymentEvent(
  ctx: { signerAddress: Uint8Array; gateway: string },
  e: PaymentEventInput,
  timestampMs: number,
  orchAddressHex = checksumAddress(e.orchAddress),
): EncodedEvent {
  const { id, key, value } = encodePaymentEventText(ctx, e, timestampMs, orchAddressHex);
  return { id, key, value: utf8.encode(value) };
}

/**
 * The same event with its value as text, which the outbox encodes to UTF-8 as it commits it.
 */
export function encodePaymentEventText(
  ctx: { signerAddress: Uint8Array; gateway: string },
  e: PaymentEventInput,
  timestampMs: number,
  orchAddressHex = checksumAddress(e.orchAddress),
): EncodedEventText {
  const id = paymentEventId(ctx.signerAddress, e.stateId, e.sequenceNumber);
  const s = goJsonString;
  // Go's map encoding sorts the keys: they are listed here in that order.
  const data =
    `{"app":${s(e.app)}` +
    `,"auth_id":${s(e.authId)}` +
    `,"billable_secs":${goFloat(e.billableSecs)}` +
    `,"capability":${s(e.capability)}` +
    `,"computed_fee":"${e.fee.toFixed(0)}"` +
    `,"cost":"${e.cost.toFixed(10)}"` +
    `,"current_time":"${formatGoTime(e.nowNs)}"` +
    `,"current_time_unix":${e.nowNs / NS_PER_MS}` +
    `,"face_value":"${e.faceValue}"` +
    `,"job_type":${s(e.jobType)}` +
    `,"manifest_id":${s(e.manifestId)}` +
    `,"model":${s(e.model)}` +
    `,"num_tickets":${e.numTickets}` +
    `,"orch_address":"${orchAddressHex}"` +
    `,"orch_url":${s(e.orchUrl)}` +
    `,"pipeline":${s(pipelineName(e.jobType))}` +
    `,"pixels":${e.pixels}` +
    `,"pm_session_id":${s(e.pmSessionId)}` +
    `,"previous_time":"${formatGoTime(e.previousNs)}"` +
    `,"previous_time_unix":${floorDiv(e.previousNs, NS_PER_MS)}` +
    `,"request_id":${s(e.requestId)}` +
    `,"sequence_number":${e.sequenceNumber}` +
    `,"session_balance":"${e.sessionBalance.toFixed(0)}"` +
    `,"session_id":${s(e.stateId)}` +
    `,"session_status":"${e.sequenceNumber === 0n ? "new" : "continuing"}"` +
    `,"total_ev":"${e.totalEv.toFixed(0)}"}`;
  const json = `{"id":"${id}","type":"${PAYMENT_EVENT_TYPE}","timestamp":"${timestampMs}","gateway":${s(ctx.gateway)},"data":${data}}`;
  return { id, key: id, value: json };
}

/** Go's UnixMilli: floor division for times before 1970. */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}
