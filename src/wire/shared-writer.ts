import { BinaryWriter } from "@bufbuild/protobuf/wire";

/** A result longer than this leaves the writer behind rather than keep its large buffer. */
const KEEP_UP_TO = 16_384;

/**
 * The writer encodeWith lends. A new BinaryWriter starts at 128 bytes and grows by copying into
 * larger arrays, each an ArrayBuffer of its own that the next scavenge sweeps (with a payment and
 * segment credentials per call, most of a worker's GC pause was that sweep); this one keeps its
 * grown buffer, so an encoding allocates only its result.
 */
let idle: BinaryWriter | undefined = new BinaryWriter();

/**
 * The bytes `write` puts in a writer. Encodings are synchronous, so uses never interleave; a use
 * inside another gets a writer of its own, and a failed one leaves the writer empty.
 */
export function encodeWith(write: (w: BinaryWriter) => void): Uint8Array {
  const w = idle ?? new BinaryWriter();
  const lent = w === idle;
  idle = undefined;
  let bytes: Uint8Array | undefined;
  try {
    write(w);
    bytes = w.finish();
    return bytes;
  } finally {
    if (bytes === undefined) w.finish();
    if (lent && (bytes === undefined || bytes.length <= KEEP_UP_TO)) idle = w;
  }
}
