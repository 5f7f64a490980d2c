import { randomFillSync } from "node:crypto";

// A native call per 4-byte id showed up in profiles of the payment path: ids are cut from a pool
// of random bytes refilled 4 KiB at a time, each byte used once.
const pool = Buffer.alloc(4096);
let used = pool.length;

/** `bytes` random bytes as lowercase hex (request and session ids, not secrets). */
export function randomHexId(bytes = 4): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const id = pool.toString("hex", used, used + bytes);
  used += bytes;
  return id;
}
