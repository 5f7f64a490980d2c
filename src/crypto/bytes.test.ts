import { randomBytes } from "node:crypto";
import { expect, test } from "vitest";
import { keccak_256 } from "@noble/hashes/sha3";
import { bigintToBytes, concatBytes, keccak256, pooledBytes, pooledCopy, pooledUtf8, toHex, writeUint256 } from "./bytes.js";

/** The definition: the low 256 bits of the two's complement, big-endian, byte by byte. */
function slowUint256(value: bigint): Uint8Array {
  const out = new Uint8Array(32);
  let v = value;
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

test("writeUint256 writes the low 256 bits big-endian, at its offset only", () => {
  const values = [0n, 1n, 255n, 256n, (1n << 256n) - 1n, 1n << 256n, -1n, -(1n << 255n), 3n << 300n];
  for (let i = 0; i < 200; i++) values.push(BigInt("0x" + randomBytes(1 + (i % 40)).toString("hex")) * (i % 3 ? 1n : -1n));
  for (const v of values) {
    const target = new Uint8Array(70).fill(0xee);
    writeUint256(target.subarray(3), 5, v);
    expect(toHex(target.subarray(8, 40))).toBe(toHex(slowUint256(v)));
    expect([...target.subarray(0, 8), ...target.subarray(40)].every((b) => b === 0xee)).toBe(true);
  }
});

test("keccak256 of parts is the hash of their concatenation", () => {
  const a = randomBytes(28);
  const b = randomBytes(300);
  expect(toHex(keccak256(a, b))).toBe(toHex(keccak256(concatBytes(a, b))));
  expect(toHex(keccak256())).toBe("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
});

test("keccak256 is Keccak-256 whatever the parts' sizes, across its staging area's edges", () => {
  // Small arrays (kept inside the JS heap), parts that fill the 2 KiB stage exactly, cross it, or exceed it.
  const cases = [[0], [32], [28, 32], [2048], [2047, 1], [2047, 2], [2048, 1], [2049], [5000], [100, 5000, 3], [1000, 1000, 1000], Array(100).fill(31)];
  for (const sizes of cases) {
    const parts = sizes.map((n) => Uint8Array.from(randomBytes(n)));
    expect(toHex(keccak256(...parts)), `parts of ${sizes.join(",")}`).toBe(toHex(keccak_256(concatBytes(...parts))));
  }
  // The result is the caller's: the next hash does not change it.
  const first = keccak256(new Uint8Array([1]));
  const copy = Uint8Array.from(first);
  keccak256(new Uint8Array([2]));
  expect(first).toEqual(copy);
});

test("pooled bytes are plain Uint8Arrays in Node's pool, whose slice() is a copy", () => {
  const text = "manifest-\u00e9-\ud800-end"; // a lone surrogate becomes U+FFFD, as TextEncoder writes it
  const bytes = pooledUtf8(text);
  expect(bytes).toEqual(new TextEncoder().encode(text));
  const copy = pooledCopy(bytes);
  expect(copy).toEqual(bytes);
  for (const b of [bytes, copy, pooledBytes(65)]) {
    expect(Buffer.isBuffer(b)).toBe(false);
    expect(b.buffer.byteLength).toBe(Buffer.poolSize);
  }
  const own = copy.slice();
  copy[0] = copy[0]! ^ 0xff;
  expect(own[0]).toBe(bytes[0]);
  expect(own.byteLength).toBe(own.buffer.byteLength);
});

test("bigintToBytes is Go's big.Int.Bytes: minimal big-endian, zero empty, any size", () => {
  const slow = (v: bigint) => {
    let hex = v.toString(16);
    if (hex.length % 2) hex = "0" + hex;
    return v === 0n ? "" : hex;
  };
  const values = [0n, 1n, 255n, 256n, (1n << 255n) + 1n, (1n << 256n) - 1n, 1n << 256n, 7n << 300n];
  for (let i = 0; i < 300; i++) values.push(BigInt("0x" + randomBytes(1 + (i % 40)).toString("hex")));
  for (const v of values) expect(toHex(bigintToBytes(v))).toBe(slow(v));
  expect(() => bigintToBytes(-1n)).toThrow(RangeError);
});
