/**
 * The event id is an RFC 4122 version-5 UUID (SHA-1, name-based) of "<signer hex>/<StateID>/<seq>"
 * in lpsigner's namespace. The expected ids were computed with Python's uuid module:
 *   uuid.uuid5(uuid.UUID("6c70736967e14e7b9a2f0c1d6576e701"), "0101…01/0123456789abcdef0123456789abcdef/0")
 * so a consumer can derive them too, and any change to their bytes fails here.
 */
import { describe, expect, test } from "vitest";
import { paymentEventId } from "../src/events/payment-event.js";

const signer = new Uint8Array(20).fill(1);
const anvil = Buffer.from("f39fd6e51aad88f6f4ce6ab8827279cfffb92266", "hex");

describe("paymentEventId", () => {
  test("matches Python's uuid.uuid5 in lpsigner's namespace", () => {
    expect(paymentEventId(signer, "0123456789abcdef0123456789abcdef", 0n)).toBe("6dbf2640-d45e-514a-aee2-35a8ab2bfd78");
    expect(paymentEventId(signer, "0123456789abcdef0123456789abcdef", 1n)).toBe("50e65a1f-8a9a-55a8-a7e3-a430efac0cc2");
    // Non-ASCII is hashed as UTF-8; the largest uint64 sequence number in full.
    expect(paymentEventId(anvil, "s-ëvent", 18446744073709551615n)).toBe("ccc01415-504e-5fcc-8ecb-e47d5b973ba1");
    // A name longer than the reused input buffer.
    expect(paymentEventId(signer, "ë".repeat(300), 42n)).toBe("4435c511-ff6c-56a3-84de-fc77263c6d0e");
  });

  test("a long id in between leaves the next one unchanged (the input buffer is reused)", () => {
    const short = paymentEventId(signer, "a", 7n);
    paymentEventId(signer, "b".repeat(400), 7n);
    expect(paymentEventId(signer, "a", 7n)).toBe(short);
  });
});
