import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { getBytes, hexlify, solidityPackedKeccak256, verifyMessage, zeroPadValue } from "ethers";
import { describe, expect, test } from "vitest";
import { PaymentSchema, PriceInfoSchema } from "../../gen/net/lp_rpc_pb.js";
import { fromHex, toHex } from "../crypto/bytes.js";
import { createEthSigner, recoverSigner } from "../crypto/eth-sign.js";
import { BATCH, TEST_ADDRESS, TEST_PRIVATE_KEY } from "../../test/fixtures/spec-vectors.js";
import { Rat } from "../math/rat.js";
import { createPayment, createPaymentInSlices } from "./ticket-batch.js";
import { MAX_WIN_PROB, ticketEV, ticketHash, type Ticket } from "./ticket.js";

const zero20 = new Uint8Array(20);
const zero32 = new Uint8Array(32);
const base: Ticket = {
  recipient: zero20,
  sender: zero20,
  faceValue: 0n,
  winProb: 0n,
  senderNonce: 0,
  recipientRandHash: zero32,
  expiration: { creationRound: 0n, creationRoundBlockHash: zero32 },
};
const h = (t: Partial<Ticket>) => "0x" + toHex(ticketHash({ ...base, ...t }));

describe("ticketHash", () => {
  test("matches the reference's own test vectors", () => {
    expect(h({ senderNonce: 4294967295 })).toBe("0xe1393fc7f6de093780674022f96cb8e3872235167d037c04d554e58c0e63d280");
    expect(h({ senderNonce: 1 })).toBe("0xce0918ba94518293e9712effbe5fca4f1f431089833a5b8c257cb1e024595f68");
    expect(h({ faceValue: 1n, winProb: 500n })).toBe("0x87ef13f2d37e4d5352a01d3c77b8179d80e0887f1953bfabfd0bfd7b0f689ddd");
    expect(h({ faceValue: 500n, winProb: 1n })).toBe("0xaa4b35071043587992ac8b9dd1b2cf1d8311130e6458cf0b2342484e21af5f5b");
    expect(h({ recipient: fromHex("0x73AEd7b5dEb30222fa896f399d46cC99c7BEe57F") })).toBe(
      "0x81e353ae39046e2b77b9f996abbaeed527fda559b61ef90f299c4499dd508ccc",
    );
    const rrh = fromHex("0x41b1a0649752af1b28b3dc29a1556eee781e4a4c3a1f7f53f90fa834de098c4d");
    expect(h({ recipientRandHash: rrh })).toBe("0xbe5eaf9a49a39540b9bb02f1a21904f61324a29819e2c032824bfaa10c100b17");
    expect(h({ expiration: { creationRound: 10n, creationRoundBlockHash: rrh } })).toBe(
      "0xe502907c16036ab3d11b78c5a2e93c20f3d6415c67f91de4ed01348182b3b2e2",
    );
  });

  test("equals Solidity abi.encodePacked as computed by ethers", () => {
    const t: Ticket = {
      recipient: fromHex(BATCH.recipient),
      sender: fromHex(TEST_ADDRESS),
      faceValue: BATCH.faceValue,
      winProb: BATCH.winProb,
      senderNonce: 77,
      recipientRandHash: fromHex(BATCH.recipientRandHash),
      expiration: { creationRound: BATCH.creationRound, creationRoundBlockHash: fromHex(BATCH.creationRoundBlockHash) },
    };
    const aux = zeroPadValue(hexlify(new Uint8Array([0x0f, 0xa0])), 32) + BATCH.creationRoundBlockHash.slice(2);
    const expected = solidityPackedKeccak256(
      ["address", "address", "uint256", "uint256", "uint256", "bytes32", "bytes"],
      [BATCH.recipient, TEST_ADDRESS, t.faceValue, t.winProb, 77, BATCH.recipientRandHash, aux],
    );
    expect("0x" + toHex(ticketHash(t))).toBe(expected);
    // Without expiration params the auxData is empty.
    const noAux = solidityPackedKeccak256(
      ["address", "address", "uint256", "uint256", "uint256", "bytes32", "bytes"],
      [BATCH.recipient, TEST_ADDRESS, t.faceValue, t.winProb, 77, BATCH.recipientRandHash, "0x"],
    );
    expect("0x" + toHex(ticketHash({ ...t, expiration: { creationRound: 0n, creationRoundBlockHash: zero32 } }))).toBe(noAux);
  });

  test("a field shorter than its slot leaves zeros, not the previous ticket's bytes", () => {
    const ff = new Uint8Array(32).fill(0xff);
    const full = { ...base, recipient: ff.subarray(0, 20), recipientRandHash: ff, expiration: { creationRound: 9n, creationRoundBlockHash: ff } };
    const short = { ...base, recipient: new Uint8Array([1, 2, 3]), recipientRandHash: new Uint8Array([4]), expiration: { creationRound: 9n, creationRoundBlockHash: new Uint8Array([5]) } };
    const packed = new Uint8Array(232);
    packed.set([1, 2, 3], 0);
    packed[167] = 0; // the nonce is 0
    packed.set([4], 136);
    packed[199] = 9;
    packed.set([5], 200);
    ticketHash(full);
    expect(toHex(ticketHash(short))).toBe(getBytes(solidityPackedKeccak256(["bytes"], [packed])).reduce((s, b) => s + b.toString(16).padStart(2, "0"), ""));
  });
});

describe("ticketEV", () => {
  test("is exact and equals faceValue at max winProb", () => {
    expect(ticketEV(1000n, MAX_WIN_PROB).toString()).toBe("1000");
    // VECTORS.md writes the fraction unreduced; compare by value.
    const specEV = new Rat(
      115792089237316195423570985008687907853269984665640564039457584007913129639000000000000n,
      115792089237316195423570985008687907853269984665640564039457584007913129639935n,
    );
    expect(ticketEV(BATCH.faceValue, BATCH.winProb).cmp(specEV)).toBe(0);
    expect(ticketEV(0n, MAX_WIN_PROB).sign()).toBe(0);
  });
});

describe.each(["native", "noble"] as const)("createPayment with the %s backend", (backend) => {
  const signer = createEthSigner(fromHex(TEST_PRIVATE_KEY), backend);
  const expectedPrice = create(PriceInfoSchema, BATCH.price);
  const params = {
    recipient: fromHex(BATCH.recipient),
    faceValue: BATCH.faceValue,
    winProb: BATCH.winProb,
    recipientRandHash: fromHex(BATCH.recipientRandHash),
    seed: BATCH.seed,
    expirationBlock: BATCH.expirationBlock,
    expiration: { creationRound: BATCH.creationRound, creationRoundBlockHash: fromHex(BATCH.creationRoundBlockHash) },
  };

  test("signs the spec's batch byte for byte, nonces continuing from the stored one", () => {
    const { payment, bytes, lastNonce } = createPayment({
      params,
      expectedPrice,
      fallbackExpiration: { creationRound: 1n, creationRoundBlockHash: new Uint8Array(32).fill(1) },
      lastNonce: 5,
      count: 3,
      signer,
    });
    expect(lastNonce).toBe(8);
    expect(Buffer.from(toBinary(PaymentSchema, payment)).toString("base64")).toBe(BATCH.paymentBase64);
    expect(Buffer.from(bytes).toString("base64")).toBe(BATCH.paymentBase64);
    payment.ticketSenderParams.forEach((tsp, i) => {
      const vector = BATCH.tickets[i]!;
      expect(tsp.senderNonce).toBe(vector.nonce);
      expect("0x" + toHex(tsp.sig)).toBe(vector.sig);
      // Reference verify rules and ethers' independent recovery agree on the sender.
      expect("0x" + toHex(recoverSigner(fromHex(vector.hash), tsp.sig)!)).toBe(TEST_ADDRESS.toLowerCase());
      expect(verifyMessage(getBytes(vector.hash), hexlify(tsp.sig))).toBe(TEST_ADDRESS);
    });
    const decoded = fromBinary(PaymentSchema, fromHex("0x" + Buffer.from(BATCH.paymentBase64, "base64").toString("hex")));
    expect(decoded.ticketSenderParams.map((t) => t.senderNonce)).toEqual([6, 7, 8]);
    expect(decoded.ticketParams?.expirationParams).toBeUndefined();
  });

  test("signed in slices, the spec's batch and a 100-ticket batch are the same bytes as in one go", async () => {
    const base = { params, expectedPrice, fallbackExpiration: { creationRound: 1n, creationRoundBlockHash: new Uint8Array(32).fill(1) }, signer };
    let pauses = 0;
    const pause = async () => void pauses++;
    const sliced = await createPaymentInSlices({ ...base, lastNonce: 5, count: 3 }, 2, pause);
    expect(Buffer.from(sliced.bytes).toString("base64")).toBe(BATCH.paymentBase64);
    expect([sliced.lastNonce, pauses]).toEqual([8, 1]);
    const whole = createPayment({ ...base, lastNonce: 0xffff_ffff - 40, count: 100 });
    const inSlices = await createPaymentInSlices({ ...base, lastNonce: 0xffff_ffff - 40, count: 100 }, 8, pause);
    expect(Buffer.from(inSlices.bytes).equals(Buffer.from(whole.bytes))).toBe(true);
    expect([inSlices.lastNonce, whole.lastNonce]).toEqual([59, 59]);
    expect(pauses).toBe(1 + 12);
  });

  test("uses the signer's round when the orchestrator's round or block hash is missing", () => {
    const fallback = { creationRound: 9n, creationRoundBlockHash: new Uint8Array(32).fill(9) };
    for (const expiration of [
      { creationRound: 4000n, creationRoundBlockHash: zero32 },
      { creationRound: 0n, creationRoundBlockHash: new Uint8Array(32).fill(1) },
    ]) {
      const { payment } = createPayment({ params: { ...params, expiration }, expectedPrice, fallbackExpiration: fallback, lastNonce: 0, count: 1, signer });
      expect(payment.expirationParams?.creationRound).toBe(9n);
      expect(payment.expirationParams?.creationRoundBlockHash).toEqual(fallback.creationRoundBlockHash);
    }
  });

  test("uses the signer's round when the orchestrator sent no expiration params", () => {
    const fallback = { creationRound: 9n, creationRoundBlockHash: new Uint8Array(32).fill(9) };
    const { payment } = createPayment({
      params: { ...params, expiration: { creationRound: 0n, creationRoundBlockHash: zero32 } },
      expectedPrice,
      fallbackExpiration: fallback,
      lastNonce: 0,
      count: 1,
      signer,
    });
    expect(payment.expirationParams?.creationRound).toBe(9n);
    const hash = ticketHash({
      recipient: params.recipient,
      sender: signer.address,
      faceValue: params.faceValue,
      winProb: params.winProb,
      senderNonce: 1,
      recipientRandHash: params.recipientRandHash,
      expiration: fallback,
    });
    expect(recoverSigner(hash, payment.ticketSenderParams[0]!.sig)).toEqual(signer.address);
  });

  test("the payment's bytes are toBinary's, call after call on one params object", () => {
    // A session's calls share one params object: the repeated parts are kept for it and must
    // follow any change of sender, expiration or price. Deterministic pseudo-random inputs.
    let seed = 7;
    const next = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const other = createEthSigner(new Uint8Array(32).fill(3));
    const withUnknown = fromBinary(PriceInfoSchema, Uint8Array.from([0x08, 0x05, 0x10, 0x02, 0x48, 0x07]));
    expect(withUnknown.$unknown?.length).toBe(1);
    const prices = [expectedPrice, create(PriceInfoSchema, {}), withUnknown, create(PriceInfoSchema, { pricePerUnit: -3n, capability: 7, constraint: "x" })];
    const sessionParams = { ...params, expiration: { creationRound: 0n, creationRoundBlockHash: zero32 } };
    for (let i = 0; i < 120; i++) {
      const { payment, bytes } = createPayment({
        params: next(4) === 0 ? params : sessionParams,
        expectedPrice: prices[next(prices.length)]!,
        fallbackExpiration: { creationRound: BigInt(next(3)), creationRoundBlockHash: new Uint8Array(32).fill(next(3)) },
        lastNonce: [0, 1, 0xffff_fffe, 0xffff_ffff, next(1000)][next(5)]!,
        count: next(4),
        signer: next(3) === 0 ? other : signer,
      });
      expect(Buffer.from(bytes).toString("hex"), `call ${i}`).toBe(Buffer.from(toBinary(PaymentSchema, payment)).toString("hex"));
    }
  });
});
