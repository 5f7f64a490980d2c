import { fromBinary } from "@bufbuild/protobuf";
import { toBase64 } from "../crypto/bytes.js";
import type { IncomingMessage, ServerResponse } from "node:http";
import { finished } from "node:stream";
import { CapabilitiesSchema, OrchestratorInfoSchema, type OrchestratorInfo } from "../../gen/net/lp_rpc_pb.js";
import { invalidArgument, PaymentError } from "../payment/errors.js";
import { boundCapabilities, type DecodedCapabilities } from "../payment/request-capabilities.js";
import { parseJobType } from "../pricing/job-type.js";
import { HTTP_STATUS_NO_TICKETS, legacyError } from "./payment-status.js";
import type { ActivityRecorder } from "../activity/recorder.js";
import { SIGNER_BUSY, type Admission } from "../server/admission.js";
import { trackPayment } from "../activity/outcome.js";
import { generatePayment, type PaymentDeps, type PaymentRequest } from "../payment/generate-payment.js";
import { readPaymentRequestJson } from "../wire/payment-request.js";
import type { SignedState } from "../state/payment-state.js";
import { checkProtoWire, ProtoWireError } from "../go/proto-wire.js";
import { goJsonString, JsonSyntaxError, JsonTypeError } from "../go/json.js";
import { firstHeader, goHeaderValue, goRequestHeaders } from "../go/headers.js";
import { ByocJobError, signByocJob } from "../byoc/job.js";
import { readSignByocJobJson, signByocJobReplyJson } from "../byoc/wire.js";
import { KeyBackendUnavailableError } from "../keys/key-backend.js";

export { HTTP_STATUS_NO_TICKETS, HTTP_STATUS_PRICE_EXCEEDED, HTTP_STATUS_REFRESH_SESSION, ORCHESTRATOR_URL_HEADER } from "./payment-status.js";
const AUTH_ID_HEADER = "Signer-Auth-Id";

const ROUTES: Record<string, string> = { "/sign-orchestrator-info": "POST", "/generate-live-payment": "POST" };
/** The BYOC branch's route (ae1a0ea7a), served unless -byoc=false. */
const BYOC_ROUTE = "/sign-byoc-job";

/** Largest request body read; a gateway's request is a few KiB. */
export const MAX_LEGACY_BODY_BYTES = 1 << 20;

export interface LegacyDeps {
  payments: PaymentDeps;
  /** The orchestrator-info signature, computed once at start. */
  orchInfoSignature: Uint8Array;
  /** GET /discover-orchestrators; undefined when discovery is off (404, as the reference). */
  discover?: (caps: string[]) => { status: 200; body: string } | { status: 503; message: string };
  /** Payment activity (/metrics and WatchSignerActivity). */
  activity?: ActivityRecorder;
  /** Payment calls in flight, bounded per process; none: unbounded (tests of other things). */
  admission?: Pick<Admission, "enterPayment">;
}

/**
 * A whole JSON reply with its Content-Length, as Go's net/http sends a small one: no chunked
 * framing. Node writes the header block as latin1 (header values may carry raw UTF-8 bytes). An
 * ASCII body, such as every payment reply, goes as latin1 text too, so the header block and body
 * leave in one write; any other body is encoded to UTF-8 bytes first.
 */
function sendJson(res: ServerResponse, status: number, body: string): void {
  const length = Buffer.byteLength(body, "utf8");
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": length });
  if (length === body.length) res.end(body, "latin1");
  else res.end(Buffer.from(body, "utf8"));
}

/** Writes the reference's error envelope: {"error":{"message":…}} and a newline. */
export function writeJsonError(res: ServerResponse, status: number, message: string, extra = ""): void {
  const shown = status === 500 ? "Internal Server Error" : status === 503 ? "Service Unavailable Error" : message;
  sendJson(res, status, `{"error":{"message":${goJsonString(shown)}}${extra}}\n`);
}

function stateJson(s: SignedState): string {
  return `{"State":"${toBase64(s.state)}","Sig":"${toBase64(s.sig)}"}`;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  // Plain events rather than the stream's async iterator (this is on every payment's path), with
  // the same end: stream.finished, so a body cut short (an abort, an HTTP/2 stream cancelled
  // mid-body) is an error and never a shorter body.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_LEGACY_BODY_BYTES) {
        chunks.push(chunk);
        return;
      }
      settled = true;
      req.off("data", onData);
      req.resume(); // the rest is drained, unread
      reject(invalidArgument(`request body larger than ${MAX_LEGACY_BODY_BYTES} bytes`));
    };
    req.on("data", onData);
    finished(req, (err) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    });
  });
}

/** A protobuf field of the request: Go's proto.Unmarshal rules (and its messages), then protobuf-es. */
function decodeProto<T>(bytes: Uint8Array, decode: (b: Uint8Array) => T, check: (b: Uint8Array) => void): T {
  try {
    check(bytes);
    return decode(bytes);
  } catch (err) {
    if (err instanceof ProtoWireError) throw invalidArgument(err.message, err);
    throw invalidArgument("proto: cannot parse invalid wire-format data", err);
  }
}

/**
 * OrchestratorInfo decoded from the (shared) bytes the JSON reader gave for a repeated text: the
 * check and decode of a session's unchanged info are done once. Entries go with their bytes.
 */
const decodedOrchestrators = new WeakMap<Uint8Array, OrchestratorInfo>();

/** Decodes the reference's RemotePaymentRequest JSON with Go's rules, then its protobuf fields. */
export function parseLegacyPaymentRequest(body: Buffer, headers: () => Record<string, string[]>, authIdHeader: string): PaymentRequest {
  let json;
  try {
    json = readPaymentRequestJson(body.toString("utf8"));
  } catch (err) {
    if (err instanceof JsonSyntaxError || err instanceof JsonTypeError) throw invalidArgument(err.message, err);
    throw err;
  }
  const { orchestrator: orchestratorBytes, capabilities: capabilitiesBytes, state, manifestId, app, type, inPixels, maxPrice, capability, modelId } = json;
  if (orchestratorBytes.length === 0) throw invalidArgument("missing orchestrator");
  let orchestrator = decodedOrchestrators.get(orchestratorBytes);
  if (!orchestrator) {
    orchestrator = deepFreeze(
      decodeProto(
        orchestratorBytes,
        (b) => fromBinary(OrchestratorInfoSchema, b),
        (b) => checkProtoWire(OrchestratorInfoSchema, b),
      ),
    );
    decodedOrchestrators.set(orchestratorBytes, orchestrator);
  }
  const capabilities = decodeCapabilities(capabilitiesBytes);
  return { orchestrator, state, manifestId, app, type: parseJobType(type), inPixels, maxPrice, capabilities, headers, authIdHeader, capability, modelId };
}

/** Freezes a decoded message and its sub-messages (byte arrays cannot be frozen): it is shared between calls. */
function deepFreeze<T>(value: T): T {
  if (typeof value !== "object" || value === null || ArrayBuffer.isView(value) || Object.isFrozen(value)) return value;
  for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}

/** The request's capabilities, decoded and bounded now; an error is kept for the domain to raise at its step. */
function decodeCapabilities(bytes: Uint8Array): DecodedCapabilities {
  if (bytes.length === 0) return { ok: true, value: undefined };
  try {
    return boundCapabilities(decodeProto(bytes, (b) => fromBinary(CapabilitiesSchema, b), (b) => checkProtoWire(CapabilitiesSchema, b)));
  } catch (err) {
    if (err instanceof PaymentError) return { ok: false, error: err };
    throw err;
  }
}

/**
 * go-livepeer's remote-signer endpoints, byte-compatible in JSON so an unmodified gateway
 * (-remoteSignerUrl) works. Returns false when the path is not one of them.
 */
export function createLegacyHandler(deps: LegacyDeps) {
  const { signer } = deps.payments;
  const orchInfoBody =
    `{"address":${goJsonString(signer.addressHex)},"signature":"0x${Buffer.from(deps.orchInfoSignature).toString("hex")}"}\n`;

  return async function handleLegacy(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = (req.url ?? "").split("?")[0];
    if (req.method === "POST" && path === "/sign-orchestrator-info") {
      req.resume();
      sendJson(res, 200, orchInfoBody);
      return true;
    }
    if (req.method === "POST" && path === "/generate-live-payment") {
      await handlePayment(req, res);
      return true;
    }
    const byoc = deps.payments.byoc?.enabled === true;
    if (byoc && req.method === "POST" && path === BYOC_ROUTE) {
      await handleSignByocJob(req, res);
      return true;
    }
    const allowed =
      path === "/discover-orchestrators" ? (deps.discover ? "GET, HEAD" : undefined) : path === BYOC_ROUTE ? (byoc ? "POST" : undefined) : ROUTES[path ?? ""];
    if (allowed && !allowed.split(", ").includes(req.method ?? "")) {
      // Go's ServeMux answers a method mismatch on a registered pattern with 405 and Allow.
      req.resume();
      res.writeHead(405, { Allow: allowed, "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" });
      res.end("Method Not Allowed\n");
      return true;
    }
    if ((req.method === "GET" || req.method === "HEAD") && path === "/discover-orchestrators" && deps.discover) {
      const url = new URL(req.url ?? "/", "http://localhost");
      const caps = url.searchParams.getAll("caps").filter((c) => c !== "");
      const result = deps.discover(caps);
      if (result.status === 200) {
        sendJson(res, 200, result.body);
      } else {
        writeJsonError(res, 503, result.message);
      }
      return true;
    }
    return false;
  };

  /** POST /sign-byoc-job: the branch's checks and reply; bounded like a payment (it signs). */
  async function handleSignByocJob(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const release = deps.admission ? deps.admission.enterPayment() : () => {};
    if (!release) {
      res.setHeader("Retry-After", "1");
      sendJson(res, 503, `{"error":{"message":${goJsonString(SIGNER_BUSY)}}}\n`);
      return;
    }
    try {
      let job;
      try {
        job = readSignByocJobJson((await readBody(req)).toString("utf8"));
      } catch (err) {
        if (err instanceof JsonSyntaxError || err instanceof JsonTypeError || err instanceof PaymentError) return writeJsonError(res, 400, err.message);
        throw err;
      }
      const signed = await signByocJob(signer, job);
      sendJson(res, 200, signByocJobReplyJson(signed.senderHex, signed.signature));
    } catch (err) {
      if (err instanceof ByocJobError) return writeJsonError(res, 400, err.message);
      // A key backend outage: 503, as a payment answers it (the reason is logged, not sent).
      if (err instanceof KeyBackendUnavailableError) return writeJsonError(res, 503, err.message);
      writeJsonError(res, 500, "Internal Server Error");
      throw err;
    } finally {
      release();
    }
  }

  async function handlePayment(req: IncomingMessage, res: ServerResponse): Promise<number> {
    // Counted from the first byte of the request, so bodies still arriving hold their slot.
    const release = deps.admission ? deps.admission.enterPayment() : () => {};
    if (!release) {
      // Refused before the body is read: the response closes the connection (see Http1Response).
      res.setHeader("Retry-After", "1");
      sendJson(res, 503, `{"error":{"message":${goJsonString(SIGNER_BUSY)}}}\n`);
      return 503;
    }
    try {
      const body = await readBody(req);
      const result = await trackPayment(deps.activity, () => {
        const headers = () => goRequestHeaders(req.rawHeaders);
        const request = parseLegacyPaymentRequest(body, headers, firstHeader(req.rawHeaders, AUTH_ID_HEADER));
        if (deps.payments.events || deps.payments.webhook?.extended) request.requestId = firstHeader(req.rawHeaders, "X-Request-Id");
        return generatePayment(deps.payments, request);
      });
      if (result.kind === "nothing-due") {
        // The reference's 482; lpsigner also sends the advanced state so an updated client can go on.
        writeJsonError(res, HTTP_STATUS_NO_TICKETS, "no tickets", `,"state":${stateJson(result.state)}`);
        return HTTP_STATUS_NO_TICKETS;
      }
      sendJson(res, 200, `{"payment":"${result.paymentHeader}","segCreds":"${result.segmentHeader}","state":${stateJson(result.state)}}\n`);
      return 200;
    } catch (err) {
      if (!(err instanceof PaymentError)) {
        writeJsonError(res, 500, "Internal Server Error");
        throw err;
      }
      const { status, message, headers } = legacyError(err);
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, goHeaderValue(value));
      writeJsonError(res, status, message);
      return status;
    } finally {
      release();
    }
  }
}
