/**
 * POST <orchestrator>/payment with the Livepeer-Payment and Livepeer-Segment headers, as
 * go-livepeer's live payment sender does. The orchestrator answers 200 with a net.PaymentResult
 * (fresh OrchestratorInfo for the session) or an error status with a text body.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { PaymentResultSchema, type OrchestratorInfo } from "../../gen/net/lp_rpc_pb.js";

export type SendPaymentResult =
  /** Accepted; `info` is the orchestrator's updated info for this session (PaymentSession.update). */
  | { ok: true; info: OrchestratorInfo | undefined }
  /** Refused: 402 unreadable payment, 403 bad segment credentials, 400 tickets refused, … */
  | { ok: false; status: number; message: string };

export const PAYMENT_HEADER = "Livepeer-Payment";
export const SEGMENT_HEADER = "Livepeer-Segment";
/** The reference's paymentRequestTimeout. */
export const PAYMENT_TIMEOUT_MS = 10_000;

/** The URL payments go to: the orchestrator's service URL (OrchestratorInfo.transcoder) + /payment. */
export function paymentUrl(orchestratorUrl: string): string {
  const base = /^https?:\/\//.test(orchestratorUrl) ? orchestratorUrl : `https://${orchestratorUrl}`;
  return `${base.replace(/\/+$/, "")}/payment`;
}

/** Reads the orchestrator's answer (shared by the fetch and the Node sender). */
export function paymentAnswer(status: number, body: Uint8Array): SendPaymentResult {
  if (status !== 200) return { ok: false, status, message: new TextDecoder().decode(body).trim() };
  return { ok: true, info: body.length === 0 ? undefined : fromBinary(PaymentResultSchema, body).info };
}

/**
 * Sends a payment with fetch: for orchestrators behind a certificate the runtime trusts. Node
 * gateways talking to orchestrators' self-signed certificates use lpsigner/client/node's sendPayment.
 */
export async function sendPayment(
  orchestratorUrl: string,
  result: { paymentHeader: string; segmentHeader: string },
  opts: { timeoutMs?: number; fetch?: typeof fetch } = {},
): Promise<SendPaymentResult> {
  const res = await (opts.fetch ?? fetch)(paymentUrl(orchestratorUrl), {
    method: "POST",
    headers: { [PAYMENT_HEADER]: result.paymentHeader, [SEGMENT_HEADER]: result.segmentHeader },
    signal: AbortSignal.timeout(opts.timeoutMs ?? PAYMENT_TIMEOUT_MS),
  });
  return paymentAnswer(res.status, new Uint8Array(await res.arrayBuffer()));
}
