import { randomBytes } from "node:crypto";
import { describe, expect, test } from "vitest";
import { fromHex, utf8 } from "../crypto/bytes.js";
import { createEthSigner } from "../crypto/eth-sign.js";
import { INT64_MAX, UINT64_MAX } from "../go/int64.js";
import { GO_ZERO_TIME_NS } from "../go/time.js";
import { generatePayment, type PaymentDeps } from "../payment/generate-payment.js";
import { SIGNED_STATE, TEST_PRIVATE_KEY } from "../../test/fixtures/spec-vectors.js";
import { domainRequest, orchestratorInfo, testDeps, testOrchestrator, T0 } from "../../test/support/fixtures.js";
import { Rat } from "../math/rat.js";
import { IssuedStates } from "./issued-states.js";
import { decodeState, encodeState, openState, readSignedState, signState, type PaymentState, type SignedState } from "./payment-state.js";

const signer = createEthSigner(fromHex(TEST_PRIVATE_KEY));
const vectorState = decodeState(utf8.encode(SIGNED_STATE.json));

class CountingIssuedStates extends IssuedStates {
  hits = 0;
  creditHits = 0;
  override recall(signed: SignedState) {
    const recalled = super.recall(signed);
    if (recalled) this.hits++;
    if (recalled?.credit) this.creditHits++;
    return recalled;
  }
}

const flip = (bytes: Uint8Array, at: number) => {
  const out = Uint8Array.from(bytes);
  out[at]! ^= 1;
  return out;
};

describe("IssuedStates", () => {
  test("gives back a state it signed, equal to what verifying and parsing the bytes gives", () => {
    const issued = new IssuedStates();
    const signed = signState(vectorState, signer, issued);
    expect(readSignedState(signed, signer.address, issued)).toEqual({ ok: true, state: vectorState });
    expect(openState(signed, signer.address)).toEqual(vectorState);
  });

  test("any changed byte of the state or the signature takes the full verification", () => {
    const issued = new IssuedStates();
    const signed = signState(vectorState, signer, issued);
    for (const at of [0, 17, signed.state.length - 1]) {
      const tampered = { state: flip(signed.state, at), sig: signed.sig };
      expect(issued.recall(tampered)).toBeUndefined();
      expect(readSignedState(tampered, signer.address, issued).ok).toBe(false);
    }
    for (const at of [0, 40, 64]) {
      const tampered = { state: signed.state, sig: flip(signed.sig, at) };
      expect(issued.recall(tampered)).toBeUndefined();
      expect(readSignedState(tampered, signer.address, issued).ok).toBe(false);
    }
    expect(issued.recall({ state: signed.state.subarray(0, 100), sig: signed.sig })).toBeUndefined();
    expect(issued.recall({ state: signed.state, sig: signed.sig.subarray(0, 64) })).toBeUndefined();
  });

  test("an entry is used once (the session's next state replaces it); a state sent again is verified in full", () => {
    const issued = new IssuedStates();
    const signed = signState(vectorState, signer, issued);
    expect(issued.recall(signed)?.state).toEqual(vectorState);
    expect(issued.size).toBe(0);
    expect(issued.recall(signed)).toBeUndefined();
    expect(readSignedState(signed, signer.address, issued)).toEqual({ ok: true, state: vectorState });
  });

  test("what is remembered is a copy: changing the signed object afterwards changes nothing", () => {
    const issued = new IssuedStates();
    const state = { ...vectorState };
    const signed = signState(state, signer, issued);
    state.balance = "0";
    state.senderNonce = 99;
    expect(issued.recall(signed)?.state).toEqual(vectorState);
  });

  test("holds at most its capacity, dropping the oldest first", () => {
    const issued = new IssuedStates(3);
    const signed = [1n, 2n, 3n, 4n].map((n) => signState({ ...vectorState, sequenceNumber: n }, signer, issued));
    expect(issued.size).toBe(3);
    expect(issued.recall(signed[0]!)).toBeUndefined();
    expect(signed.slice(1).map((s) => issued.recall(s)?.state.sequenceNumber)).toEqual([2n, 3n, 4n]);
    expect(issued.size).toBe(0);
  });

  test("forgets a state not sent back within its age limit; the full verification still opens it", () => {
    let now = 0;
    const issued = new IssuedStates(100, 60_000, () => now);
    const early = signState({ ...vectorState, sequenceNumber: 1n }, signer, issued);
    now = 30_000;
    const later = signState({ ...vectorState, sequenceNumber: 2n }, signer, issued);
    const kept = signState({ ...vectorState, sequenceNumber: 3n }, signer, issued);
    expect(issued.size).toBe(3);
    now = 60_001;
    // Recalled too late: a miss, and gone.
    expect(issued.recall(early)).toBeUndefined();
    expect(issued.size).toBe(2);
    // A new entry drops every one past the limit (an ended session's last state), oldest first.
    now = 90_001;
    signState({ ...vectorState, sequenceNumber: 4n }, signer, issued);
    expect(issued.size).toBe(1);
    expect(issued.recall(later)).toBeUndefined();
    expect(issued.recall(kept)).toBeUndefined();
    expect(readSignedState(later, signer.address, issued)).toEqual({ ok: true, state: { ...vectorState, sequenceNumber: 2n } });
  });

  test("keeps the balance as a number only when it is exactly the state's Balance", () => {
    const issued = new IssuedStates();
    const credit = Rat.parse(vectorState.balance)!;
    const withCredit = signState(vectorState, signer, issued, credit);
    expect(issued.recall(withCredit)?.credit).toBe(credit);
    expect(readSignedState(signState(vectorState, signer, issued, credit), signer.address, issued)).toEqual({ ok: true, state: vectorState, credit });
    // A number that is not the text (a slip in a caller) is dropped: the text is parsed instead.
    const other = signState(vectorState, signer, issued, new Rat(1n, 3n));
    expect(issued.recall(other)).toEqual({ state: vectorState, credit: undefined });
  });

  test("does not keep a state whose JSON would not parse back to it", () => {
    const issued = new IssuedStates();
    const loneSurrogate = { ...vectorState, app: "a\ud800b" };
    expect(decodeState(encodeState(loneSurrogate)).app).toBe("a\ufffdb"); // why: Go writes U+FFFD
    const outOfRange = { ...vectorState, authExpiry: INT64_MAX + 1n };
    for (const state of [loneSurrogate, outOfRange]) {
      const signed = signState(state, signer, issued);
      expect(issued.recall(signed)).toBeUndefined();
    }
    expect(issued.size).toBe(0);
  });

  test("states as the payment steps build them parse back exactly (the ground the shortcut stands on)", () => {
    const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)]!;
    for (let i = 0; i < 500; i++) {
      const state: PaymentState = {
        stateId: randomBytes(4).toString("hex"),
        pmSessionId: pick(["", "0x" + randomBytes(32).toString("hex")]),
        lastUpdate: pick([GO_ZERO_TIME_NS, T0 + BigInt(Math.floor(Math.random() * 1e15)), T0 + 1_000_000_000n]),
        orchestratorAddress: new Uint8Array(randomBytes(20)),
        app: pick(["", "app", "ünïcödé ✓ \u2028 <&>", '"quoted"\\', "\x00\x1f", "😀"]),
        authExpiry: pick([0n, -1n, INT64_MAX, BigInt(Date.now())]),
        senderNonce: pick([0, 1, 499, 0xffffffff]),
        balance: pick(["", "0", "1237/7", "-5/3", "115792089237316195423570985008687907853269984665640564039457584007913129639865000000/23158417847463239084714197001737581570653996933128112807891516801582625927987"]),
        initialPricePerUnit: pick([1n, INT64_MAX, -3n]),
        initialPixelsPerUnit: pick([1n, 1000n]),
        type: pick(["", "lv2v", "live", "fixed"]),
        sequenceNumber: pick([0n, 7n, UINT64_MAX]),
        authId: pick(["", "user-1", "\u00ff\u0100"]),
      };
      expect(decodeState(encodeState(state))).toEqual(state);
    }
  });

  test("a session paid through the shortcut gives the same bytes as one verified in full", async () => {
    const orch = testOrchestrator();
    const info = orchestratorInfo({ orch, pricePerUnit: 100_000_000_000n, pixelsPerUnit: 1n, faceValue: 1_000_000_000_000n, winProb: 1n << 254n });
    const run = async (issued: IssuedStates | undefined) => {
      const { deps, clock } = testDeps({ randomId: () => "5e5510ed" });
      const withMemo: PaymentDeps = { ...deps, signer, ...(issued ? { issuedStates: issued } : {}) };
      const out: string[] = [];
      let state: SignedState | undefined;
      for (let call = 0; call < 30; call++) {
        clock.set(T0 + BigInt(call) * 1_700_000_000n);
        const r = await generatePayment(withMemo, domainRequest({ orchestrator: info, type: "live", state }));
        state = r.state;
        out.push(Buffer.from(r.state.state).toString("base64"), Buffer.from(r.state.sig).toString("hex"));
        out.push(r.kind === "paid" ? r.paymentHeader + r.segmentHeader : "nothing due");
      }
      return out;
    };
    const issued = new CountingIssuedStates();
    const outputs = await run(issued);
    expect(outputs).toEqual(await run(undefined));
    expect(issued.hits).toBe(29);
    expect(issued.creditHits).toBe(29); // and the balance was not parsed again
    const nothingDue = outputs.filter((x) => x === "nothing due").length;
    expect(nothingDue).toBeGreaterThan(0); // both kinds of reply were signed
    expect(nothingDue).toBeLessThan(25);
  });
});
