import { createRequire } from "node:module";

// hash-wasm's Keccak bundle alone: the package's index carries every algorithm's WASM as source
// text (0.7 MiB of live heap in every process, for one hash).
const { createKeccak } = createRequire(import.meta.url)("hash-wasm/dist/keccak.umd.min.js") as typeof import("hash-wasm");

// WASM Keccak: about 10x faster than pure JS (@noble/hashes) and as fast as the native addon
// (whose four N-API calls per hash cost more than the hashing), with no build step. Created once:
// every use is synchronous, so calls never interleave.
const hasher = await createKeccak(256);

/**
 * Where keccak256 gathers its input before handing it to the hasher, in memory of its own.
 * hash-wasm reads its input through `.buffer`, and V8 keeps a typed array of 64 bytes or fewer
 * inside the JS heap until its `.buffer` is asked for, then moves it out into a new ArrayBuffer:
 * hashing a 32-byte digest or a message prefix allocated one each time, and every ArrayBuffer is
 * one more for the scavenger to sweep (most of a worker's GC pause under load). Copying into this
 * stage allocates nothing.
 */
const STAGE_SIZE = 2048;
const stage = new Uint8Array(new ArrayBuffer(STAGE_SIZE));
/**
 * stage.subarray(0, n) made once per length up to 512 (a payment hashes a few short inputs of the
 * same lengths every call): the view is not allocated again each time. At most 512 views are kept.
 */
const CACHED_VIEWS = 512;
const stageViews: Uint8Array[] = [];
const staged = (n: number) => (n <= CACHED_VIEWS ? (stageViews[n] ??= stage.subarray(0, n)) : stage.subarray(0, n));

export function keccak256(...parts: Uint8Array[]): Uint8Array {
  hasher.init();
  let filled = 0;
  for (const part of parts) {
    if (filled + part.length > STAGE_SIZE) {
      if (filled > 0) hasher.update(staged(filled));
      filled = 0;
      // Longer than the stage: an array this long has its own ArrayBuffer already.
      if (part.length > STAGE_SIZE) {
        hasher.update(part);
        continue;
      }
    }
    stage.set(part, filled);
    filled += part.length;
  }
  if (filled > 0) hasher.update(staged(filled));
  return hasher.digest("binary");
}

const UINT256_LIMIT = 1n << 256n;

/** A Buffer over the same memory (Buffer.from(array) would copy it first). */
export function bufferView(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function toHex(bytes: Uint8Array): string {
  return bufferView(bytes).toString("hex");
}

export function toBase64(bytes: Uint8Array): string {
  return bufferView(bytes).toString("base64");
}

export function fromHex(hex: string): Uint8Array {
  const body = hex.startsWith("0x") || hex.startsWith("0X") ? hex.slice(2) : hex;
  if (body.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(body)) {
    throw new Error(`invalid hex string`);
  }
  return new Uint8Array(Buffer.from(body, "hex"));
}

/** Big-endian minimal bytes of a non-negative integer, as Go's big.Int.Bytes(): zero is empty. */
export function bigintToBytes(value: bigint): Uint8Array {
  if (value < 0n) throw new RangeError("negative value");
  if (value === 0n) return new Uint8Array(0);
  if (value < UINT256_LIMIT) {
    // A ticket's face value, win probability and nonces: one 256-bit word, leading zeros cut.
    const word = new Uint8Array(32);
    writeUint256(word, 0, value);
    let first = 0;
    while (word[first] === 0) first++;
    return word.slice(first);
  }
  let hex = value.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  return new Uint8Array(Buffer.from(hex, "hex"));
}

/** Unsigned big-endian bytes to an integer, as Go's big.Int.SetBytes. */
export function bytesToBigint(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  return BigInt("0x" + toHex(bytes));
}

/** Writes value (mod 2^256) as a 32-byte big-endian word at offset. */
export function writeUint256(target: Uint8Array, offset: number, value: bigint): void {
  // Four 64-bit stores instead of 32 bigint shifts: this runs several times per ticket.
  // setBigUint64 keeps the low 64 bits of what it is given.
  const view = new DataView(target.buffer, target.byteOffset + offset, 32);
  view.setBigUint64(0, value >> 192n);
  view.setBigUint64(8, value >> 128n);
  view.setBigUint64(16, value >> 64n);
  view.setBigUint64(24, value);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const utf8 = new TextEncoder();

/**
 * Bytes for values that die young (a request's decoded fields, a reply's signatures): a plain
 * Uint8Array over Node's shared 8 KiB Buffer pool rather than an ArrayBuffer of its own. Each
 * ArrayBuffer of more than 64 bytes (and TextEncoder's of any size) is allocated outside the JS
 * heap and swept at the next scavenge: at about twenty per call they were most of a worker's GC
 * pause. A view keeps its whole pool chunk alive, so nothing long-lived should hold one: copy it
 * (`.slice()`) before keeping it. Uninitialized, as Buffer.allocUnsafe: the caller writes every byte.
 */
export function pooledBytes(length: number): Uint8Array {
  return plainView(Buffer.allocUnsafe(length));
}

/** A Buffer's bytes as a plain Uint8Array over the same memory (its slice() copies, as a Buffer's does not). */
export function plainView(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/** A pooled copy (see pooledBytes). */
export function pooledCopy(bytes: Uint8Array): Uint8Array {
  const out = pooledBytes(bytes.length);
  out.set(bytes);
  return out;
}

/** UTF-8 bytes of a string, pooled (see pooledBytes); lone surrogates become U+FFFD, as TextEncoder writes them. */
export function pooledUtf8(text: string): Uint8Array {
  return plainView(Buffer.from(text, "utf8"));
}

/**
 * A copy of a well-formed string that shares no memory with the text it was cut from: V8 slices
 * strings of 13 characters and more, and a slice kept in a cache keeps its whole parent (a
 * request body) alive. The UTF-8 round trip returns a well-formed string unchanged; a string
 * with a lone surrogate would come back changed, so callers check isWellFormed first.
 */
export function ownString(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, "utf8").toString("utf8");
}
