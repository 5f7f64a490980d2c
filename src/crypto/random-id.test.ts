import { describe, expect, test } from "vitest";
import { randomHexId } from "./random-id.js";

describe("randomHexId", () => {
  test("lowercase hex of the asked length, distinct across many pool refills", () => {
    const ids = new Set<string>();
    // 4 KiB pool / 4 bytes = 1024 ids per refill: 20,000 ids cross ~20 refills.
    for (let i = 0; i < 20_000; i++) {
      const id = randomHexId(4);
      expect(id).toMatch(/^[0-9a-f]{8}$/);
      ids.add(id);
    }
    // 32-bit ids: a collision among 20,000 has probability ~5%; more than 3 means bytes repeat.
    expect(20_000 - ids.size).toBeLessThanOrEqual(3);
  });

  test("other lengths, and a length that does not divide the pool", () => {
    for (let i = 0; i < 3_000; i++) expect(randomHexId(7)).toMatch(/^[0-9a-f]{14}$/);
    expect(randomHexId(32)).toMatch(/^[0-9a-f]{64}$/);
  });
});
