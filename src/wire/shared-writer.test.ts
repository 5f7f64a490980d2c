import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { expect, test } from "vitest";
import { TicketSenderParamsSchema } from "../../gen/net/lp_rpc_pb.js";
import { encodeWith } from "./shared-writer.js";

const ticket = (nonce: number, sigLength: number) => create(TicketSenderParamsSchema, { senderNonce: nonce, sig: new Uint8Array(sigLength).fill(nonce & 0xff) });

/** As toBinary writes a TicketSenderParams: proto3 defaults left out. */
function writeTicket(w: BinaryWriter, nonce: number, sigLength: number): void {
  if (nonce !== 0) w.tag(1, WireType.Varint).uint32(nonce);
  if (sigLength > 0) w.tag(2, WireType.LengthDelimited).bytes(new Uint8Array(sigLength).fill(nonce & 0xff));
}

test("each encoding is exactly its own bytes, whatever the writer held before", () => {
  // Growing (a 300-byte field), then smaller ones: nothing of an earlier encoding shows through.
  for (const [nonce, length] of [[1, 300], [2, 65], [3, 0], [300, 5000], [4, 1]] as const) {
    const bytes = encodeWith((w) => writeTicket(w, nonce, length));
    expect(bytes).toEqual(toBinary(TicketSenderParamsSchema, ticket(nonce, length)));
  }
});

test("a use inside another gets a writer of its own", () => {
  const inner: Uint8Array[] = [];
  const outer = encodeWith((w) => {
    w.tag(1, WireType.Varint).uint32(7);
    inner.push(encodeWith((v) => writeTicket(v, 9, 3)));
    w.tag(2, WireType.LengthDelimited).bytes(new Uint8Array([7, 7]));
  });
  expect(inner[0]).toEqual(toBinary(TicketSenderParamsSchema, ticket(9, 3)));
  expect(outer).toEqual(toBinary(TicketSenderParamsSchema, create(TicketSenderParamsSchema, { senderNonce: 7, sig: new Uint8Array([7, 7]) })));
});

test("a failed encoding leaves nothing behind for the next", () => {
  expect(() =>
    encodeWith((w) => {
      w.tag(1, WireType.Varint).uint32(5).fork();
      w.uint32(-1); // not a uint32: protobuf-es throws
    }),
  ).toThrow();
  expect(encodeWith((w) => writeTicket(w, 6, 2))).toEqual(toBinary(TicketSenderParamsSchema, ticket(6, 2)));
});
