import { describe, expect, test } from "vitest";
import { toHex } from "../crypto/bytes.js";
import { MAX_WIN_PROB } from "../pm/ticket.js";
import { signState, openState, type PaymentState } from "../state/payment-state.js";
import { GO_ZERO_TIME_NS } from "../go/time.js";
import { domainRequest, orchestratorInfo, rat, testDeps, testOrchestrator, T0, type DomainRequestInit } from "../../test/support/fixtures.js";
import { createPaymentVerifier } from "../dev-orchestrator/payment-verifier.js";
import { PaymentError } from "./errors.js";
import { generatePayment, type Paid, type PaymentDeps, type PaymentRequest } from "./generate-payment.js";

type RequestInit = DomainRequestInit;
const request = domainRequest;

/** A call that signs tickets. */
async function paid(deps: PaymentDeps, req: PaymentRequest): Promise<Paid> {
  const r = await generatePayment(deps, req);
  if (r.kind !== "paid") throw new Error(`expected tickets, got ${r.kind}`);
  return r;
}

/** The PaymentError a call fails with. */
async function failure(p: Promise<unknown>): Promise<PaymentError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof PaymentError)) throw new Error(`expected a PaymentError, got ${String(err)}`);
  return err;
}

// VECTORS.md section 8: type, elapsed s, inPixels, price, faceValue, winProb divisor, existing,
// units, fee, n, status, exact balance after.
const W = (d: bigint) => MAX_WIN_PROB / d;
const TABLE: [string, number, bigint, [bigint, bigint], bigint, bigint, string, bigint, string, number, number, string?][] = [
  ["lv2v", 0, 0n, [1n, 1n], 1_000_000_000_000n, 100n, "0", 1658880000n, "1658880000", 1, 200, "193167142275832572794291282895133376390613466898853564304160088624016872780380925440000/23158417847463239084714197001737581570653996933128112807891516801582625927987"],
  ["lv2v", 0, 0n, [1n, 1n], 1_000_000_000_000n, 1000n, "0", 1658880000n, "1658880000", 2, 200, "464694088007450595092806287131336695610675966695803637707526718315050903304760320000/1362259873380190534394952764808093033567882172536947812228912753034272113411"],
  ["lv2v", 2.5, 0n, [1200n, 1n], 10_000_000_000_000n, 100n, "0", 69120000n, "82944000000", 1, 200, "394989974806333005828885344061636191269074571691433092051397710567793267827046272000000/23158417847463239084714197001737581570653996933128112807891516801582625927987"],
  ["lv2v", 1.000000001, 0n, [3n, 2n], 1_000_000_000_000n, 10n, "100", 27648000n, "41472000", 1, 200, "2314881361157195697766422341467121796256259687817400285007594083962619038294377115934700/23158417847463239084714197001737581570653996933128112807891516801582625927987"],
  ["live", 0, 0n, [1_000_000n, 1n], 1_000_000_000n, 100n, "0", 10n, "10000000", 2, 200, "231584178474632390847141970017375815706539969331281128078915168015826259279730000000/23158417847463239084714197001737581570653996933128112807891516801582625927987"],
  ["live", 4.2, 0n, [1_000_000n, 1n], 1_000_000_000n, 100n, "0", 5n, "5000000", 1, 200, "115792089237316195423570985008687907853269984665640564039457584007913129639865000000/23158417847463239084714197001737581570653996933128112807891516801582625927987"],
  ["fixed", 0, 0n, [5_000_000n, 1n], 1_000_000_000n, 100n, "0", 1n, "5000000", 1, 200, "115792089237316195423570985008687907853269984665640564039457584007913129639865000000/23158417847463239084714197001737581570653996933128112807891516801582625927987"],
  ["fixed", 0, 0n, [5n, 1n], 1_000_000_000n, 100n, "1000", 1n, "5", 1, 200, "231607221100390616770031260643392544600202770058229590551159020075043833992598347065/23158417847463239084714197001737581570653996933128112807891516801582625927987"],
  ["", 0, 3_000_000n, [2n, 3n], 1_000_000n, 2n, "0", 3_000_000n, "2000000", 5, 200, "11579208923731619542357098500868790785326998466564056403945758400791312963993000000/23158417847463239084714197001737581570653996933128112807891516801582625927987"],
  ["", 0, 1n, [1n, 1n], 1_000_000_000_000n, 1_000_000n, "0", 1n, "1", 1, 200, "23158394689045391621475112287540579833072426279131179679778708910065824217374072013/23158417847463239084714197001737581570653996933128112807891516801582625927987"],
  ["lv2v", 0, 0n, [10n, 1n], 1_000_000_000n, 100n, "0", 1658880000n, "16588800000", 1659, 400],
  ["fixed", 0, 0n, [5n, 1n], 1_000_000_000n, 100n, "20000000", 1n, "5", 0, 482],
  ["live", 3, 0n, [1_000_000n, 1n], 1_000_000_000n, 100n, "9000001", 3n, "3000000", 1, 200, "370534708717829672818666236741998306868045521584046738054377076716838816430347927987/23158417847463239084714197001737581570653996933128112807891516801582625927987"],
];

describe("fee, ticket count and balance (VECTORS.md section 8)", () => {
  test.each(TABLE)(
    "%s elapsed=%s inPixels=%s price=%s fv=%s 1/%s existing=%s",
    async (type, elapsed, inPixels, [ppu, pxpu], faceValue, winDiv, existing, units, fee, n, status, balanceAfter) => {
      const { deps, signer, clock } = testDeps();
      const orch = testOrchestrator();
      const info = orchestratorInfo({ orch, pricePerUnit: ppu, pixelsPerUnit: pxpu, faceValue, winProb: W(winDiv) });
      const withState = elapsed > 0 || existing !== "0";
      const prior: PaymentState = {
        stateId: "abcd1234",
        pmSessionId: "0x" + toHex(orch.recipientRandHash),
        lastUpdate: elapsed > 0 ? T0 - BigInt(Math.round(elapsed * 1e9)) : GO_ZERO_TIME_NS,
        orchestratorAddress: orch.recipient,
        app: "",
        authExpiry: 0n,
        senderNonce: 41,
        balance: existing,
        initialPricePerUnit: ppu,
        initialPixelsPerUnit: pxpu,
        type,
        sequenceNumber: 6n,
        authId: "",
      };
      const req = request({
        orchestrator: info,
        type,
        inPixels,
        state: withState ? signState(prior, signer) : undefined,
      });
      const signsBefore = signer.signCount();
      clock.set(T0);
      if (status === 200) {
        const r = await paid(deps, req);
        expect(r.units).toBe(units);
        expect(r.fee.toString()).toBe(fee);
        expect(r.numTickets).toBe(n);
        expect(r.balance.toString()).toBe(balanceAfter);
        expect(r.balance.cmp(rat(balanceAfter!))).toBe(0);
        const next = openState(r.state, signer.address);
        expect(next.balance).toBe(balanceAfter);
        expect(next.lastUpdate).toBe(T0);
        expect(next.senderNonce).toBe((withState ? 41 : 0) + n);
        expect(next.sequenceNumber).toBe(withState ? 7n : 0n);
        expect(next.pmSessionId).toBe("0x" + toHex(orch.recipientRandHash));
        // n tickets + segment credentials + state
        expect(signer.signCount() - signsBefore).toBe(n + 2);
        const verifier = createPaymentVerifier({ orch, sender: signer.address, expectedPrice: { pricePerUnit: ppu, pixelsPerUnit: pxpu }, lastSeenL1Block: () => 1000n });
        const payment = verifier.accept(r.paymentHeader, r.segmentHeader, "manifest-1");
        expect(payment.ticketSenderParams.map((t) => t.senderNonce)).toEqual(
          Array.from({ length: n }, (_, i) => (withState ? 42 : 1) + i),
        );
      } else if (status === 400) {
        const err = await failure(generatePayment(deps, req));
        expect(err.kind).toBe("invalid-argument");
        expect(err.message).toBe(`numTickets ${n} exceeds maximum of 100`);
        expect(signer.signCount()).toBe(signsBefore);
      } else {
        const r = await generatePayment(deps, req);
        if (r.kind !== "nothing-due") throw new Error("expected nothing due");
        // Only the advanced state is signed (issue 7): fee debited, no ticket.
        expect(signer.signCount() - signsBefore).toBe(1);
        const advanced = openState(r.state, signer.address);
        expect(rat(advanced.balance).cmp(rat(existing).sub(rat(fee)))).toBe(0);
        expect(advanced.senderNonce).toBe(41);
      }
    },
  );
});

describe("refusals change nothing and sign nothing", () => {
  const cases: [string, (o: ReturnType<typeof testOrchestrator>) => RequestInit, RegExp | PaymentError["kind"]][] = [
    ["missing price", () => ({ orchestrator: orchestratorInfo({ pricePerUnit: 0n }) }), /missing or zero priceInfo/],
    ["expired auth token", () => ({ orchestrator: orchestratorInfo({ authExpiration: T0 / 1_000_000_000n + 179n }) }), "refresh-session"],
    ["expired params", () => ({ orchestrator: orchestratorInfo({ expirationBlock: 1001n }) }), "refresh-session"],
    ["faceValue too low (winProb max)", () => ({ orchestrator: orchestratorInfo({ winProb: MAX_WIN_PROB }) }), /faceValue too low/],
    ["invalid job type", () => ({ type: "video" }), /invalid job type/],
    ["no units", () => ({ type: "", inPixels: 0n }), /missing billable unit or job type/],
    ["request maxPrice exceeded", () => ({ maxPrice: { price: "0.5", currency: "wei", unit: "720p-pixel-seconds" } }), "price-exceeded"],
    ["maxPrice wrong unit", () => ({ maxPrice: { price: "5", currency: "wei", unit: "seconds" } }), /maxPrice.unit must be 720p-pixel-seconds/],
    ["manifest id too long", () => ({ manifestId: "x".repeat(300) }), /ManifestID: longer than 256/],
    ["X-Request-Id too long", () => ({ requestId: "r".repeat(257) }), /X-Request-Id: longer than 256 characters/],
    ["service URL too long", () => ({ orchestrator: orchestratorInfo({ transcoder: "https://o.example/" + "p".repeat(2031) }) }), /orchestrator.transcoder: longer than 2048 characters/],
  ];
  test.each(cases)("%s", async (_name, make, expected) => {
    const { deps, signer } = testDeps();
    const orch = testOrchestrator();
    const err = await failure(generatePayment(deps, request(make(orch))));
    if (expected instanceof RegExp) expect(err.message).toMatch(expected);
    else expect(err.kind).toBe(expected);
    expect(signer.signCount()).toBe(0);
  });

  test("refresh carries the orchestrator URL", async () => {
    const { deps } = testDeps();
    const err = await failure(generatePayment(deps, request({ orchestrator: orchestratorInfo({ authExpiration: 0n, transcoder: "https://o.example:1" }) })));
    expect(err.failure).toEqual({ kind: "refresh-session", orchestratorUrl: "https://o.example:1", reason: "auth token expired" });
  });

  test("state from another signer, another orchestrator or app is refused", async () => {
    const { deps, signer } = testDeps();
    const other = testDeps();
    const orch = testOrchestrator();
    const first = await paid(deps, request({ orchestrator: orchestratorInfo({ orch }) }));
    const count = signer.signCount();
    await expect(generatePayment(other.deps, request({ orchestrator: orchestratorInfo({ orch }), state: first.state }))).rejects.toThrow("invalid sig");
    await expect(generatePayment(deps, request({ orchestrator: orchestratorInfo(), state: first.state }))).rejects.toThrow("orchestratorAddress mismatch");
    await expect(generatePayment(deps, request({ orchestrator: orchestratorInfo({ orch }), state: first.state, app: "x" }))).rejects.toThrow("app mismatch");
    await expect(generatePayment(deps, request({ orchestrator: orchestratorInfo({ orch }), state: first.state, type: "live" }))).rejects.toThrow("job type mismatch");
    await expect(generatePayment(deps, request({ orchestrator: orchestratorInfo({ orch }), state: first.state, manifestId: "" }))).rejects.toThrow("missing manifestID");
    const truncated = { state: first.state.state.subarray(0, 20), sig: first.state.sig };
    await expect(generatePayment(deps, request({ orchestrator: orchestratorInfo({ orch }), state: truncated }))).rejects.toThrow("invalid sig");
    expect(signer.signCount()).toBe(count);
  });

  test("a price rise above the session's initial price is refused", async () => {
    const { deps } = testDeps();
    const orch = testOrchestrator();
    const first = await paid(deps, request({ orchestrator: orchestratorInfo({ orch, pricePerUnit: 10n }) }));
    const err = await failure(generatePayment(deps, request({ orchestrator: orchestratorInfo({ orch, pricePerUnit: 11n }), state: first.state })));
    expect(err.kind).toBe("price-exceeded");
    expect(err.message).toBe("orchestrator price 11.000 exceeds initial session price ceiling 10.000");
  });
});

describe("sessions", () => {
  test("new ticket params restart the nonce sequence; same params continue it", async () => {
    const { deps, clock } = testDeps();
    const orch = testOrchestrator();
    const a = await paid(deps, request({ orchestrator: orchestratorInfo({ orch }) }));
    expect(a.payment.ticketSenderParams.map((t) => t.senderNonce)).toEqual([1, 2]);
    clock.advance(30);
    const b = await paid(deps, request({ orchestrator: orchestratorInfo({ orch }), state: a.state }));
    expect(b.payment.ticketSenderParams[0]!.senderNonce).toBe(3);
    // Same orchestrator address, new recipientRandHash: a new PM session.
    const refreshed = { ...testOrchestrator(), recipient: orch.recipient };
    clock.advance(30);
    const c = await paid(deps, request({ orchestrator: orchestratorInfo({ orch: refreshed }), state: b.state }));
    expect(c.payment.ticketSenderParams[0]!.senderNonce).toBe(1);
  });

  test("concurrent requests for the same params never share nonces or balances", async () => {
    const { deps, signer } = testDeps();
    const orch = testOrchestrator();
    const first = await paid(deps, request({ orchestrator: orchestratorInfo({ orch }) }));
    const results = await Promise.all(
      Array.from({ length: 50 }, () => paid(deps, request({ orchestrator: orchestratorInfo({ orch }), state: first.state }))),
    );
    // Each request is computed from the same state alone: identical accounting, nonces from 3.
    for (const r of results) {
      expect(r.payment.ticketSenderParams[0]!.senderNonce).toBe(3);
      expect(r.balance.toString()).toBe(results[0]!.balance.toString());
      expect(openState(r.state, signer.address).sequenceNumber).toBe(1n);
    }
  });
});

describe("chain view and observers", () => {
  test("a stale chain view refuses payments (nothing signed) and the batch is reported once signed", async () => {
    const { ChainUnavailableError } = await import("../chain/chain-view.js");
    const stale = testDeps({
      chain: {
        current: () => {
          throw new ChainUnavailableError("chain view is 61 s old (bound 60 s)");
        },
        status: () => ({ snapshot: undefined, ageMs: 61_000, stale: true, ethUrl: "", devChain: false }),
        registeredOrchestrators: async () => [],
        close: async () => {},
      },
    });
    expect((await failure(generatePayment(stale.deps, request({})))).kind).toBe("unavailable");
    expect(stale.signer.signCount()).toBe(0);

    const batches: { numTickets: number; faceValue: bigint }[] = [];
    const { deps } = testDeps({ onTicketsSigned: (b) => batches.push(b) });
    const r = await paid(deps, request({}));
    expect(batches).toEqual([{ numTickets: r.numTickets, faceValue: 1_000_000_000_000n, ev: expect.anything() }]);
  });
});

describe("Go time arithmetic", () => {
  test("auth token refresh point, with time.Unix's int64 overflow", async () => {
    const { authTokenNeedsRefresh } = await import("./check-refresh.js");
    const now = 1_800_000_000n * 1_000_000_000n;
    expect(authTokenNeedsRefresh(1_800_000_180n, now)).toBe(false); // exactly at the refresh point: not after it
    expect(authTokenNeedsRefresh(1_800_000_180n, now + 1n)).toBe(true);
    expect(authTokenNeedsRefresh(1_800_000_181n, now + 1n)).toBe(false);
    expect(authTokenNeedsRefresh((1n << 63n) - 1n, now)).toBe(true); // overflows in Go: reads as past
    expect(authTokenNeedsRefresh(-(1n << 63n), now)).toBe(true);
  });
});
