/**
 * The development orchestrator's BYOC face, as the branch feat/byoc-per-cap-pricing-and-usage-labels
 * (ae1a0ea7a) serves it (byoc/job_orchestrator.go): POST /process/request/<route> with the job in
 * the base64 JSON `Livepeer` header, its V1 signature checked against the job's sender before
 * anything else, payment tickets in Livepeer-Payment credited to (sender, capability), at least a
 * minute of the capability's price required, then the job "run" (echoed) and its compute-seconds
 * charged. Its per-second prices are advertised as capabilities_prices {capability 37, name}.
 */
import type { IncomingHttpHeaders } from "node:http";
import { ByocJobError, flattenByocJob } from "../byoc/job.js";
import { CAPABILITY_BYOC } from "../byoc/pricing.js";
import { fromHex, keccak256, toHex } from "../crypto/bytes.js";
import { verifySignature } from "../crypto/eth-sign.js";
import { Rat } from "../math/rat.js";

export interface ByocCapability {
  name: string;
  /** wei per pixelsPerUnit compute-seconds */
  pricePerUnit: bigint;
  pixelsPerUnit: bigint;
}

/** The job header's JSON (byoc.JobRequest), as the orchestrator reads it. */
export interface JobRequest {
  id: string;
  request: string;
  parameters: string;
  capability: string;
  sender: string;
  sig: string;
  timeoutSeconds: bigint;
}

/** The branch's job errors, by the messages it answers with. */
export const JOB_ERRORS = {
  noTimeout: "no timeout_seconds set with request, timeout_seconds is required",
  noCapacity: "No capacity available for capability",
  noJobCreds: "Could not verify job creds",
  insufficientBalance: "Insufficient balance for request",
  segEncoding: "ErrorSegEncoding",
  segSig: "ErrSegSig",
} as const;

/** What the handler uses of an HTTP/1 or HTTP/2 compatibility request and response. */
interface Req {
  url?: string | undefined;
  method?: string | undefined;
  headers: IncomingHttpHeaders;
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  on(event: "end", listener: () => void): unknown;
}
interface Res {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body: string): unknown;
}

class JobRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const str = (v: unknown) => (typeof v === "string" ? v : "");

/** Go's base64.StdEncoding: padded, no whitespace, else an error. */
function decodeStdBase64(s: string): Buffer | undefined {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  return Buffer.from(s, "base64");
}

/** go-ethereum's HexToAddress: optional 0x, odd length padded, the last 20 bytes. */
function hexToAddress(s: string): Uint8Array {
  let h = s.startsWith("0x") || s.startsWith("0X") ? s.slice(2) : s;
  if (h.length % 2 === 1) h = "0" + h;
  const bytes = /^[0-9a-fA-F]*$/.test(h) ? fromHex(h) : new Uint8Array();
  const out = new Uint8Array(20);
  const tail = bytes.subarray(Math.max(0, bytes.length - 20));
  out.set(tail, 20 - tail.length);
  return out;
}

/**
 * verifyJobCreds: the header decoded, a timeout required, the signature (its first two characters
 * dropped when longer than 130, whatever they are) over the V1 bytes of the job's own fields,
 * recovered to the job's sender. Returns the job, or the branch's error message.
 */
export function verifyJobCreds(header: string): { ok: true; job: JobRequest } | { ok: false; error: string } {
  const raw = decodeStdBase64(header);
  if (!raw) return { ok: false, error: JOB_ERRORS.segEncoding };
  let data: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(raw.toString("utf8"));
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
    data = parsed as Record<string, unknown>;
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  const timeout = data.timeout_seconds;
  if (timeout !== undefined && (typeof timeout !== "number" || !Number.isInteger(timeout))) return { ok: false, error: "timeout_seconds: not an integer" };
  const job: JobRequest = {
    id: str(data.id),
    request: str(data.request),
    parameters: str(data.parameters),
    capability: str(data.capability),
    sender: str(data.sender),
    sig: str(data.sig),
    timeoutSeconds: BigInt(timeout ?? 0),
  };
  if (job.timeoutSeconds === 0n) return { ok: false, error: JOB_ERRORS.noTimeout };
  const sigHex = job.sig.length > 130 ? job.sig.slice(2) : job.sig;
  if (sigHex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(sigHex)) return { ok: false, error: JOB_ERRORS.segSig };
  const payload = flattenByocJob({ ...job });
  if (!verifySignature(hexToAddress(job.sender), keccak256(payload), fromHex(sigHex))) return { ok: false, error: JOB_ERRORS.segSig };
  return { ok: true, job };
}

/** The branch's http.Error: text/plain, nosniff, the message and a newline. */
function httpError(res: Res, status: number, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" });
  res.end(`${message}\n`);
}

export interface ByocJobsOptions {
  capabilities: ByocCapability[];
  /** Verifies the Livepeer-Payment header's tickets for this orchestrator; returns sender (0x-hex) and EV. */
  receivePayment(header: string): Promise<{ sender: string; ev: Rat }>;
  clock: () => number;
}

export function createByocJobs(opts: ByocJobsOptions) {
  const byName = new Map(opts.capabilities.map((c) => [c.name, c]));
  const balances = new Map<string, Rat>(); // by sender/capability
  const counts = { jobs: 0, refused: 0 };
  const key = (sender: string, capability: string) => `${sender.toLowerCase()}/${capability}`;
  const balanceOf = (sender: string, capability: string) => balances.get(key(sender, capability)) ?? Rat.ZERO;

  async function run(req: Req, res: Res, body: Buffer): Promise<void> {
    const verified = verifyJobCreds(String(req.headers["livepeer"] ?? ""));
    if (!verified.ok) {
      throw new JobRefused(400, verified.error === JOB_ERRORS.noTimeout ? JOB_ERRORS.noTimeout : JOB_ERRORS.noJobCreds);
    }
    const { job } = verified;
    const cap = byName.get(job.capability);
    if (!cap) throw new JobRefused(503, JOB_ERRORS.noCapacity); // nothing registered under that name
    const sender = "0x" + toHex(hexToAddress(job.sender));
    const price = new Rat(cap.pricePerUnit, cap.pixelsPerUnit);
    if (price.sign() > 0) {
      const payment = String(req.headers["livepeer-payment"] ?? "");
      if (payment !== "") {
        try {
          const { sender: payer, ev } = await opts.receivePayment(payment);
          balances.set(key(payer, job.capability), balanceOf(payer, job.capability).add(ev));
        } catch {
          // The branch logs a bad payment and goes on to the balance check.
        }
      }
      if (balanceOf(sender, job.capability).cmp(price.mul(new Rat(60n))) < 0) throw new JobRefused(400, JOB_ERRORS.insufficientBalance);
    }
    let details: unknown;
    try {
      details = JSON.parse(job.request);
    } catch (err) {
      throw new JobRefused(400, `Unable to unmarshal job request details err=${(err as Error).message}`);
    }
    // The work: none. The reply echoes the job; a whole compute-second (at least) is charged.
    const started = opts.clock();
    const reply = JSON.stringify({ id: job.id, capability: job.capability, details, body: body.toString("utf8") });
    const seconds = BigInt(Math.max(1, Math.ceil((opts.clock() - started) / 1000)));
    const left = balanceOf(sender, job.capability).sub(price.mul(new Rat(seconds)));
    balances.set(key(sender, job.capability), left);
    counts.jobs++;
    res.writeHead(200, { "content-type": "application/json", "livepeer-balance": floatString0(left) });
    res.end(reply);
  }

  return {
    /** capabilities_prices entries: {capability 37, constraint name, rate}. */
    prices: () => opts.capabilities.map((c) => ({ capability: CAPABILITY_BYOC, constraint: c.name, pricePerUnit: c.pricePerUnit, pixelsPerUnit: c.pixelsPerUnit })),
    priceAccepted: (p: { pricePerUnit: bigint; pixelsPerUnit: bigint }) =>
      opts.capabilities.some((c) => c.pricePerUnit === p.pricePerUnit && c.pixelsPerUnit === p.pixelsPerUnit),
    /** Handles POST /process/request[/...]; false for any other request. */
    handle(req: Req, res: Res): boolean {
      const path = (req.url ?? "").split("?")[0] ?? "";
      if (path !== "/process/request" && !path.startsWith("/process/request/")) return false;
      if (req.method !== "POST") {
        httpError(res, 405, "Method not allowed");
        return true;
      }
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        run(req, res, Buffer.concat(chunks)).catch((err: unknown) => {
          counts.refused++;
          if (err instanceof JobRefused) httpError(res, err.status, err.message);
          else httpError(res, 500, err instanceof ByocJobError ? err.message : "Internal Server Error");
        });
      });
      return true;
    },
    balance: balanceOf,
    stats: () => ({ ...counts }),
  };
}

/** big.Rat FloatString(0): rounded half away from zero to an integer. */
function floatString0(r: Rat): string {
  const neg = r.num < 0n;
  const n = neg ? -r.num : r.num;
  const q = n / r.den;
  const rounded = (n % r.den) * 2n >= r.den ? q + 1n : q;
  return (neg && rounded !== 0n ? "-" : "") + rounded.toString();
}
