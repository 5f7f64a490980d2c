/**
 * Issue 7: a session never stalls on "no tickets needed". Hundreds of calls with fees far
 * below one ticket's EV, including the orchestrator lowering EV mid-session.
 */
import { describe, expect, test } from "vitest";
import { openState, type SignedState } from "../src/state/payment-state.js";
import { generatePayment } from "../src/payment/generate-payment.js";
import { Rat } from "../src/math/rat.js";
import { MAX_WIN_PROB } from "../src/pm/ticket.js";
import { domainRequest, orchestratorInfo, testDeps, testOrchestrator, T0 } from "./support/fixtures.js";
import { createPaymentVerifier } from "../src/dev-orchestrator/payment-verifier.js";

describe("a long live session with EV much larger than each call's fee", () => {
  test("always advances, debits exactly price × units, and the orchestrator is never owed more than one ticket", async () => {
    const { deps, signer, clock } = testDeps();
    const orch = testOrchestrator();
    const price = 1_000_000n; // wei per second
    let faceValue = 1_000_000_000_000n;
    const winProb = MAX_WIN_PROB / 1000n; // EV ≈ 1e9 = 1000 s of fees
    const verifierFor = (o: typeof orch) =>
      createPaymentVerifier({ orch: o, sender: signer.address, expectedPrice: { pricePerUnit: price, pixelsPerUnit: 1n }, lastSeenL1Block: () => 1000n });
    let current = orch;
    let verifier = verifierFor(orch);
    let receivedBefore = Rat.ZERO; // EV received under earlier params
    let state: SignedState | undefined;
    let totalUnits = 0n;
    let paid = 0;
    let skipped = 0;
    let lastUpdate = 0n;
    clock.set(T0);
    // Live time advances by 1.3 s per call: whole-second billing (ceil) is part of the rule.
    for (let i = 0; i < 400; i++) {
      if (i === 200) {
        // The orchestrator refreshes its params with 1/10 the face value: existing credit now exceeds EV.
        current = { ...testOrchestrator(), recipient: orch.recipient };
        receivedBefore = receivedBefore.add(verifier.received());
        verifier = verifierFor(current);
        faceValue /= 10n;
      }
      const info = orchestratorInfo({ orch: current, pricePerUnit: price, faceValue, winProb });
      const r = await generatePayment(deps, domainRequest({ orchestrator: info, state, manifestId: "m", type: "live" }));
      if (r.kind === "paid") {
        verifier.accept(r.paymentHeader, r.segmentHeader, "m");
        paid++;
      } else {
        skipped++;
      }
      const next = r.state;
      const units = r.units;
      const s = openState(next, signer.address);
      expect(s.sequenceNumber).toBe(BigInt(i));
      expect(s.lastUpdate).toBeGreaterThan(lastUpdate);
      lastUpdate = s.lastUpdate;
      totalUnits += units;
      const fees = new Rat(price * totalUnits);
      const orchestratorCredit = receivedBefore.add(verifier.received()).sub(fees);
      // The signer's view and the orchestrator's agree to the wei, and it never goes negative.
      expect(orchestratorCredit.toString()).toBe(s.balance);
      expect(orchestratorCredit.sign()).toBeGreaterThanOrEqual(0);
      state = next;
      clock.advance(1.3);
    }
    expect(skipped).toBeGreaterThan(300);
    expect(paid).toBeGreaterThan(0);
    // 10 s preload, then ceil(1.3 s) per call (float seconds from the clock, as Go computes them).
    expect(totalUnits).toBe(10n + 399n * 2n);
  });
});
