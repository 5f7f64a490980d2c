/**
 * Per-process bounds on concurrent work, so that no flood of valid-looking requests can queue
 * without limit behind a gateway's next payment:
 * - payment calls in flight (legacy and Connect together): past the bound a call is refused at
 *   once, "signer busy" (legacy 503, Connect RESOURCE_EXHAUSTED), and the gateway retries;
 * - long-lived streams (WatchSignerActivity, WatchOrchestrators, grpc.health Watch) of every
 *   protocol: past the bound a new one is refused with RESOURCE_EXHAUSTED, and an open one whose
 *   reader has stopped reading is dropped once the bytes waiting for it pass a bound.
 */
import type { IncomingMessage } from "node:http";
import { constants as h2constants, type Http2ServerRequest } from "node:http2";
import { inTurns } from "./listener.js";
import { Code, ConnectError, createContextKey, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";

export interface AdmissionLimits {
  /** Payment calls in flight at once in this process. */
  maxInFlightPayments: number;
  /** Long-lived streams open at once in this process. */
  maxStreams: number;
  /** A stream whose unsent bytes stay above this at a sweep is dropped. */
  slowReaderBytes: number;
}

/**
 * Payments: `npm run bench:load` peaks at 16 calls in flight per process, so 64 never refuses a
 * gateway the signer could serve (livepeer/node's bound is 64 too). Slow readers: an activity
 * snapshot is about 600 bytes, so 8 KiB unsent is a reader that has missed a dozen or more; an
 * HTTP/2 stream stops accepting writes at 16 KiB, so a bound above that would never be reached.
 */
export const DEFAULT_ADMISSION: AdmissionLimits = { maxInFlightPayments: 64, maxStreams: 128, slowReaderBytes: 8 * 1024 };

export const SIGNER_BUSY = "signer busy";

/** How often open streams are checked for readers that stopped reading. */
const SWEEP_MS = 1000;

/** What a stream handler can see of its HTTP request: the bytes queued for it, and a way to end it. */
export interface RawStream {
  /** Bytes written for this stream and not yet handed to the kernel. */
  unsent(): number;
  /** Ends the stream (HTTP/2: the stream alone, RST_STREAM CANCEL; HTTP/1.1: its connection). */
  drop(): void;
}

const requestKey = createContextKey<IncomingMessage | Http2ServerRequest | undefined>(undefined, { description: "the HTTP request under a Connect call" });

/** Connect's contextValues hook: keeps each call's HTTP request, for the streams' RawStream. */
export function rawStreamContext(req: IncomingMessage | Http2ServerRequest): ContextValues {
  return createContextValues().set(requestKey, req);
}

/** The HTTP/2 stream, or the HTTP/1.1 connection, under a Connect call. */
function rawStreamOf(req: IncomingMessage | Http2ServerRequest | undefined): RawStream {
  if (!req) return { unsent: () => 0, drop: () => {} };
  if ("stream" in req) {
    const stream = req.stream;
    return {
      unsent: () => stream.writableLength,
      drop: () => {
        if (!stream.destroyed) stream.close(h2constants.NGHTTP2_CANCEL);
      },
    };
  }
  const socket = req.socket;
  return { unsent: () => socket.writableLength, drop: () => socket.destroy() };
}

export interface Admission {
  /** Takes a payment slot, or returns undefined when every slot is taken. */
  enterPayment(): (() => void) | undefined;
  /** Takes a stream slot for a Connect call, or throws RESOURCE_EXHAUSTED; release it when the stream ends. */
  enterStream(ctx: HandlerContext): () => void;
  /** In use now, for metrics. */
  inUse(): { payments: number; streams: number };
}

export type Refusal = "busy" | "streams" | "slow-reader";

export function createAdmission(limits: AdmissionLimits = DEFAULT_ADMISSION, onRefused: (why: Refusal) => void = () => {}): Admission {
  let payments = 0;
  const streams = new Set<RawStream>();
  let sweeper: NodeJS.Timeout | undefined;

  const sweep = () => {
    const slow = [...streams].filter((raw) => raw.unsent() > limits.slowReaderBytes);
    for (const raw of slow) streams.delete(raw);
    inTurns(slow, (raw) => {
      onRefused("slow-reader");
      raw.drop();
    });
  };

  return {
    enterPayment() {
      if (payments >= limits.maxInFlightPayments) {
        onRefused("busy");
        return undefined;
      }
      payments++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        payments--;
      };
    },
    enterStream(ctx) {
      if (streams.size >= limits.maxStreams) {
        onRefused("streams");
        throw new ConnectError(`too many streams open on this signer (limit ${limits.maxStreams})`, Code.ResourceExhausted);
      }
      // Every call served by createSignerServer has its request; a fresh object for any other keeps the count right.
      const raw = rawStreamOf(ctx.values.get(requestKey));
      streams.add(raw);
      if (!sweeper) {
        sweeper = setInterval(sweep, SWEEP_MS);
        sweeper.unref();
      }
      return () => {
        streams.delete(raw);
        if (streams.size === 0 && sweeper) {
          clearInterval(sweeper);
          sweeper = undefined;
        }
      };
    },
    inUse: () => ({ payments, streams: streams.size }),
  };
}
