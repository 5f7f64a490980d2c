/**
 * The Kafka partition of an event (src/events/kafka-delivery.ts's sessionPartition): found in the
 * event's bytes without parsing it, and equal to the partition of data.session_id as a JSON parser
 * reads it, for the signer's own events with hostile gateway-supplied strings (a manifest id that
 * spells the session key, quotes, backslashes, non-ASCII) and for other shapes of JSON.
 */
import { crc32 } from "node:zlib";
import { describe, expect, test } from "vitest";
import { sessionPartition } from "../src/events/kafka-delivery.js";
import { encodePaymentEvent } from "../src/events/payment-event.js";
import { Rat } from "../src/math/rat.js";

const PARTITIONS = 12;

/** What a JSON parser says the partition is (the key's, without a session id). */
function expected(key: string, value: Buffer): number {
  const session = (JSON.parse(value.toString("utf8")) as { data?: { session_id?: unknown } }).data?.session_id;
  return crc32(typeof session === "string" && session !== "" ? session : key) % PARTITIONS;
}

function signerEvent(stateId: string, hostile: string) {
  const e = encodePaymentEvent(
    { signerAddress: new Uint8Array(20).fill(1), gateway: hostile },
    {
      stateId,
      sequenceNumber: 3n,
      app: hostile,
      jobType: "lv2v",
      requestId: hostile,
      orchAddress: new Uint8Array(20).fill(2),
      orchUrl: `https://o.example/${hostile}`,
      manifestId: hostile,
      pmSessionId: hostile,
      nowNs: 1_700_000_000_000_000_000n,
      previousNs: 1_699_999_999_000_000_000n,
      billableSecs: 1,
      pixels: 0n,
      sessionBalance: Rat.ZERO,
      fee: new Rat(5n, 1n),
      cost: new Rat(1n, 1n),
      numTickets: 1,
      authId: hostile,
      faceValue: 10n,
      totalEv: new Rat(5n, 1n),
      capability: hostile,
      model: hostile,
    },
    1_700_000_000_000,
  );
  return { key: e.key, value: Buffer.from(e.value) };
}

describe("sessionPartition", () => {
  const hostiles = ['","session_id":"evil', '"session_id":"evil"', "back\\slash", 'q"uote', "ünïcødé ✓", "", "session_id", '\\","session_id":"x'];
  const stateIds = ["0123456789abcdef0123456789abcdef", "s-1", 'has"quote', "has\\backslash", "ëvent"];

  test("the signer's events: the partition of data.session_id, whatever the gateway's strings hold", () => {
    for (const h of hostiles) {
      for (const s of stateIds) {
        const { key, value } = signerEvent(s, h);
        expect(sessionPartition(key, value, PARTITIONS), `${JSON.stringify(h)} / ${JSON.stringify(s)}`).toBe(expected(key, value));
        expect(expected(key, value)).toBe(crc32(s) % PARTITIONS);
      }
    }
  });

  test("other shapes: an empty or missing session id, a number, not JSON at all: the key's partition", () => {
    const cases = [
      { data: { session_id: "" } },
      { data: {} },
      {},
      { data: { session_id: 42 } },
    ].map((o) => Buffer.from(JSON.stringify(o)));
    for (const value of cases) expect(sessionPartition("the-key", value, PARTITIONS)).toBe(crc32("the-key") % PARTITIONS);
    expect(sessionPartition("the-key", Buffer.from("not json"), PARTITIONS)).toBe(crc32("the-key") % PARTITIONS);
    expect(sessionPartition("the-key", Buffer.from('{"data":{"a":1,"session_id":"abc"}}'), PARTITIONS)).toBe(crc32("abc") % PARTITIONS);
  });
});
