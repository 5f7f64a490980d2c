/**
 * BYOC ("bring your own capability") job signing, as go-livepeer's branch
 * feat/byoc-per-cap-pricing-and-usage-labels (ae1a0ea7a) serves it at POST /sign-byoc-job:
 * the job's fields in the V1 binary layout, signed like every other gateway signature
 * (ethSign(keccak256(bytes)), 65 bytes, v in {27, 28}). No HTTP here: the legacy route and the
 * Connect RPC are thin adapters over signByocJob.
 */
import { keccak256, utf8 } from "../crypto/bytes.js";
import { signWith, type AnySigner } from "../crypto/remote-signer.js";
import { UINT32_MAX } from "../go/int64.js";
import { MAX_ID_LENGTH } from "../payment/open-session.js";

/** Domain separator: 14 ASCII bytes and two zero bytes, so a job signature cannot be replayed as another message. */
export const BYOC_JOB_V1_PREFIX = utf8.encode("LP_BYOC_JOB_V1\0\0");

export interface ByocJob {
  id: string;
  capability: string;
  request: string;
  parameters: string;
  /** Go's int in the reference's request; the layout keeps its low 32 bits. */
  timeoutSeconds: bigint;
}

/** A refused request: the reference answers 400 with this message, and nothing is signed. */
export class ByocJobError extends Error {}

/**
 * The V1 layout: prefix(16) ‖ uint32be(timeout) ‖ then id, capability, request, parameters, each
 * as uint32be(byte length) ‖ UTF-8 bytes.
 */
export function flattenByocJob(job: ByocJob): Uint8Array {
  const fields = [job.id, job.capability, job.request, job.parameters].map((s) => utf8.encode(s));
  const out = new Uint8Array(16 + 4 + fields.reduce((n, f) => n + 4 + f.length, 0));
  const view = new DataView(out.buffer);
  out.set(BYOC_JOB_V1_PREFIX, 0);
  // Go's uint32(int): the low 32 bits, two's complement.
  view.setUint32(16, Number(BigInt.asUintN(32, job.timeoutSeconds)));
  let at = 20;
  for (const f of fields) {
    view.setUint32(at, f.length);
    out.set(f, at + 4);
    at += 4 + f.length;
  }
  return out;
}

/**
 * The reference's checks, in its order, then lpsigner's bounds (the reference has none): id and
 * capability as long as the payment request's ids, and a timeout that fits the layout's 32 bits
 * (above that the reference signs the wrapped value, which also covers a different timeout).
 */
export function checkByocJob(job: ByocJob): void {
  if (job.id === "" || job.capability === "") throw new ByocJobError("sign-byoc-job requires non-empty id and capability");
  if (job.timeoutSeconds <= 0n) throw new ByocJobError("sign-byoc-job requires positive timeout_seconds");
  if (job.id.length > MAX_ID_LENGTH) throw new ByocJobError(`id: longer than ${MAX_ID_LENGTH} characters`);
  if (job.capability.length > MAX_ID_LENGTH) throw new ByocJobError(`capability: longer than ${MAX_ID_LENGTH} characters`);
  if (job.timeoutSeconds > UINT32_MAX) throw new ByocJobError(`timeout_seconds: at most ${UINT32_MAX}`);
}

export interface SignedByocJob {
  sender: Uint8Array;
  /** EIP-55 checksummed, as the reference's Address().Hex(). */
  senderHex: string;
  signature: Uint8Array;
}

/** Checks the job, then signs its V1 bytes with whichever key backend holds the key. */
export async function signByocJob(signer: AnySigner, job: ByocJob): Promise<SignedByocJob> {
  checkByocJob(job);
  const signature = await signWith(signer, keccak256(flattenByocJob(job)));
  return { sender: signer.address, senderHex: signer.addressHex, signature };
}
