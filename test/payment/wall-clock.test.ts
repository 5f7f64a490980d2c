import { afterEach, describe, expect, test, vi } from "vitest";
import { systemClock } from "../../src/clock.js";
import { formatGoTime } from "../../src/go/time.js";
import { generatePayment } from "../../src/payment/generate-payment.js";
import { openState } from "../../src/state/payment-state.js";
import { domainRequest, orchestratorInfo, testDeps, testOrchestrator, T0, type DomainRequestInit } from "../support/fixtures.js";

const request = (over: DomainRequestInit) => domainRequest({ type: "live", manifestId: "m", ...over });

/** Enough that every call needs tickets (EV is 1e9 wei). */
const PRICE = 1_000_000_000n;

afterEach(() => {
  vi.useRealTimers();
});

describe("LastUpdate is wall time (issue 12 item 5)", () => {
  test("the system clock is Date: the state carries the wall time that fake timers set", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const t0Ms = Number(T0 / 1_000_000n);
    vi.setSystemTime(t0Ms + 123);
    const { deps, signer } = testDeps({ clock: systemClock });
    const orch = testOrchestrator();
    const r = await generatePayment(deps, request({ orchestrator: orchestratorInfo({ orch, pricePerUnit: PRICE }) }));
    expect(formatGoTime(openState(r.state, signer.address).lastUpdate)).toBe("2027-01-15T08:00:00.123Z");
    vi.setSystemTime(t0Ms + 7_123);
    const next = await generatePayment(deps, request({ state: r.state, orchestrator: orchestratorInfo({ orch, pricePerUnit: PRICE }) }));
    expect(next.units).toBe(7n);
  });

  test("two replicas with the same key and wall clocks bill the time between them", async () => {
    const a = testDeps();
    const b = { deps: { ...a.deps, clock: Object.assign(() => Number(T0 / 1_000_000n) + 30_000, {}) } };
    const orch = testOrchestrator();
    const first = await generatePayment(a.deps, request({ orchestrator: orchestratorInfo({ orch, pricePerUnit: PRICE }) }));
    expect(first.units).toBe(10n); // live preload
    const second = await generatePayment(b.deps, request({ orchestrator: orchestratorInfo({ orch, pricePerUnit: PRICE }), state: first.state }));
    expect(second.units).toBe(30n);
  });

  test("a clock stepped backwards bills the preload, as the reference does for elapsed <= 0", async () => {
    const { deps, clock, signer } = testDeps();
    const orch = testOrchestrator();
    clock.set(T0);
    const first = await generatePayment(deps, request({ orchestrator: orchestratorInfo({ orch, pricePerUnit: PRICE }) }));
    clock.advance(-5);
    const second = await generatePayment(deps, request({ orchestrator: orchestratorInfo({ orch, pricePerUnit: PRICE }), state: first.state }));
    // go-livepeer: billableSecs = now.Sub(LastUpdate).Seconds(); if <= 0 the preload is used.
    expect(second.units).toBe(10n);
    expect(openState(second.state, signer.address).lastUpdate).toBe(T0 - 5_000_000_000n);
    clock.advance(5); // back at the first call's instant: elapsed 5 s since the second
    const third = await generatePayment(deps, request({ orchestrator: orchestratorInfo({ orch, pricePerUnit: PRICE }), state: second.state }));
    expect(third.units).toBe(5n);
  });
});
