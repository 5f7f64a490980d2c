/**
 * Every PaymentError through the Connect service, in memory (connect-es's createRouterTransport):
 * the code, the typed detail, and that nothing was signed. Then the two status tables alone.
 */
import { type DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, test } from "vitest";
import {
  NoTicketsNeededDetailSchema,
  PriceExceededDetailSchema,
  RefreshSessionDetailSchema,
  SignerService,
} from "../../gen/livepeer/signer/v1/signer_pb.js";
import { ChainUnavailableError, createStaticChainView } from "../../src/chain/chain-view.js";
import { toHex } from "../../src/crypto/bytes.js";
import { GO_ZERO_TIME_NS } from "../../src/go/time.js";
import { legacyError } from "../../src/legacy/payment-status.js";
import { Rat } from "../../src/math/rat.js";
import type { AuthDecision } from "../../src/payment/auth-webhook.js";
import * as errors from "../../src/payment/errors.js";
import type { PaymentErrorKind } from "../../src/payment/errors.js";
import type { PaymentDeps } from "../../src/payment/generate-payment.js";
import { toConnectError } from "../../src/service/payment-errors.js";
import { signerRoutes } from "../../src/service/signer-service.js";
import { createSignerStatus } from "../../src/service/signer-status.js";
import { NO_PRICE_LIMITS } from "../../src/pricing/price-limits.js";
import { DEFAULT_SENDER_LIMITS } from "../../src/pm/sender-validation.js";
import { signState } from "../../src/state/payment-state.js";
import { CHAIN, orchestratorInfo, T0, testDeps, testOrchestrator } from "../support/fixtures.js";
import { paymentRequest, testStatus } from "../support/net-server.js";

type Deps = ReturnType<typeof testDeps>;

interface Scenario {
  /** Overrides of the payment deps. */
  deps?: (d: Deps) => Partial<PaymentDeps>;
  request: (d: Deps) => ReturnType<typeof paymentRequest>;
  code: Code;
  message: string;
  detail?: { schema: DescMessage; value: Record<string, unknown> };
}

const URL = "https://orch.example:8935";
const webhook = (decision: Partial<AuthDecision>) => ({
  authorize: async () => ({ status: 200, reason: "", expiry: 0n, authId: "", maxPrice: undefined, ...decision }),
});

/** One or more scenarios per PaymentError kind; the Record type makes a missing kind a compile error. */
const SCENARIOS: Record<PaymentErrorKind, Record<string, Scenario>> = {
  "invalid-argument": {
    "missing price": {
      request: () => paymentRequest(orchestratorInfo({ pricePerUnit: 0n })),
      code: Code.InvalidArgument,
      message: "missing or zero priceInfo",
    },
  },
  "refresh-session": {
    "auth token expiring": {
      request: () => paymentRequest(orchestratorInfo({ transcoder: URL, authExpiration: T0 / 1_000_000_000n + 179n })),
      code: Code.FailedPrecondition,
      message: "refresh session for remote signer: auth token expired",
      detail: { schema: RefreshSessionDetailSchema, value: { orchestratorUrl: URL, reason: "auth token expired" } },
    },
    "ticket params expiring": {
      request: () => paymentRequest(orchestratorInfo({ transcoder: URL, expirationBlock: 1001n })),
      code: Code.FailedPrecondition,
      message: "refresh session for remote signer: ticket params expired",
      detail: { schema: RefreshSessionDetailSchema, value: { orchestratorUrl: URL, reason: "ticket params expired" } },
    },
    "sender nonce 500": {
      request: (d) => {
        const orch = testOrchestrator();
        const state = signState(
          {
            stateId: "s",
            pmSessionId: "0x" + toHex(orch.recipientRandHash),
            lastUpdate: GO_ZERO_TIME_NS,
            orchestratorAddress: orch.recipient,
            app: "",
            authExpiry: 0n,
            senderNonce: 500,
            balance: "",
            initialPricePerUnit: 1n,
            initialPixelsPerUnit: 1n,
            type: "lv2v",
            sequenceNumber: 3n,
            authId: "",
          },
          d.signer,
        );
        return paymentRequest(orchestratorInfo({ orch, transcoder: URL }), { state });
      },
      code: Code.FailedPrecondition,
      message: "refresh session for remote signer: sender nonce limit reached",
      detail: { schema: RefreshSessionDetailSchema, value: { orchestratorUrl: URL, reason: "sender nonce limit reached" } },
    },
  },
  "price-exceeded": {
    "request maxPrice": {
      request: () =>
        paymentRequest(orchestratorInfo({ pricePerUnit: 3n, pixelsPerUnit: 2n }), {
          maxPrice: { price: "1", currency: "wei", unit: "720p-pixel-seconds" },
        }),
      code: Code.ResourceExhausted,
      message: "orchestrator price 1.500 exceeds request maxPrice ceiling 1.000",
      detail: { schema: PriceExceededDetailSchema, value: { source: "request maxPrice", price: "3/2", ceiling: "1" } },
    },
    "auth webhook maxPrice": {
      deps: () => ({ webhook: webhook({ maxPrice: { price: "0.5", currency: "wei", unit: "720p-pixel-seconds" } }) }),
      request: () => paymentRequest(orchestratorInfo()),
      code: Code.ResourceExhausted,
      message: "orchestrator price 1.000 exceeds auth webhook maxPrice ceiling 0.500",
      detail: { schema: PriceExceededDetailSchema, value: { source: "auth webhook maxPrice", price: "1", ceiling: "1/2" } },
    },
  },
  "no-tickets": {
    "params without value (winProb 0)": {
      request: () => paymentRequest(orchestratorInfo({ winProb: 0n })),
      code: Code.FailedPrecondition,
      message: "no tickets: the ticket params carry no value (faceValue or winProb is 0)",
    },
  },
  "auth-rejected": {
    "403": {
      deps: () => ({ webhook: webhook({ status: 403, reason: "not this stream" }) }),
      request: () => paymentRequest(orchestratorInfo()),
      code: Code.PermissionDenied,
      message: "not this stream",
    },
    "401": {
      deps: () => ({ webhook: webhook({ status: 401, reason: "who are you" }) }),
      request: () => paymentRequest(orchestratorInfo()),
      code: Code.Unauthenticated,
      message: "who are you",
    },
    "429": {
      deps: () => ({ webhook: webhook({ status: 429, reason: "slow down" }) }),
      request: () => paymentRequest(orchestratorInfo()),
      code: Code.ResourceExhausted,
      message: "slow down",
    },
  },
  "auth-bad-price": {
    "webhook maxPrice not a number": {
      deps: () => ({ webhook: webhook({ maxPrice: { price: "abc", currency: "wei", unit: "720p-pixel-seconds" } }) }),
      request: () => paymentRequest(orchestratorInfo()),
      code: Code.Internal,
      message: "auth webhook returned an invalid maxPrice",
    },
  },
  unfunded: {
    "no reserve": {
      deps: () => ({ chain: createStaticChainView({ ...CHAIN, sender: { ...CHAIN.sender, reserve: 0n } }) }),
      request: () => paymentRequest(orchestratorInfo()),
      code: Code.FailedPrecondition,
      message: "remote signer could not check whether to refresh session: no sender reserve",
    },
    "no deposit": {
      deps: () => ({ chain: createStaticChainView({ ...CHAIN, sender: { ...CHAIN.sender, deposit: 0n } }) }),
      request: () => paymentRequest(orchestratorInfo()),
      code: Code.FailedPrecondition,
      message: "remote signer could not check whether to refresh session: no sender deposit",
    },
    "unlocking": {
      deps: () => ({ chain: createStaticChainView({ ...CHAIN, sender: { ...CHAIN.sender, withdrawRound: CHAIN.lastInitializedRound + 1n } }) }),
      request: () => paymentRequest(orchestratorInfo()),
      code: Code.FailedPrecondition,
      message: "remote signer could not check whether to refresh session: unable to validate sender: deposit and reserve is set to unlock soon",
    },
  },
  unavailable: {
    "stale chain view": {
      deps: () => ({
        chain: {
          ...createStaticChainView(CHAIN),
          current: () => {
            throw new ChainUnavailableError("chain view is 61 s old (bound 60 s)");
          },
        },
      }),
      request: () => paymentRequest(orchestratorInfo()),
      code: Code.Unavailable,
      message: "chain view is 61 s old (bound 60 s)",
    },
  },
  internal: {
    "webhook unreachable": {
      deps: () => ({
        webhook: {
          authorize: async () => {
            throw errors.internal("failed to call remote signer webhook: connect ECONNREFUSED 127.0.0.1:1");
          },
        },
      }),
      request: () => paymentRequest(orchestratorInfo()),
      code: Code.Internal,
      message: "internal error",
    },
  },
};

const rows = Object.entries(SCENARIOS).flatMap(([kind, byName]) =>
  Object.entries(byName).map(([name, s]) => [`${kind}: ${name}`, s] as const),
);

function clientFor(d: Deps) {
  const transport = createRouterTransport(signerRoutes({ payments: d.deps, orchInfoSignature: new Uint8Array(65), status: testStatus(d) }));
  return createClient(SignerService, transport);
}

describe("every PaymentError over Connect (in-memory router transport)", () => {
  test.each(rows)("%s: code, detail, nothing signed", async (_name, s) => {
    const base = testDeps();
    const d = s.deps ? { ...base, deps: { ...base.deps, ...s.deps(base) } } : base;
    const req = s.request(d);
    const before = d.signer.signCount();
    const err = await clientFor(d)
      .generateLivePayment(req)
      .then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err, "the call must fail").toBeInstanceOf(ConnectError);
    expect(err!.code).toBe(s.code);
    expect(err!.rawMessage).toBe(s.message);
    if (s.detail) {
      const details = err!.findDetails(s.detail.schema);
      expect(details).toHaveLength(1);
      expect(details[0]).toMatchObject(s.detail.value);
    } else {
      expect(err!.details).toHaveLength(0);
    }
    expect(d.signer.signCount() - before).toBe(0);
  });

  test("strict_no_tickets: ALREADY_EXISTS with the advanced state, which is the only thing signed", async () => {
    const d = testDeps();
    const client = clientFor(d);
    const orch = testOrchestrator();
    // One ticket of EV 1e12 for a fee of 1 wei, then params of EV 1e9: the credit covers the next call.
    const first = await client.generateLivePayment(paymentRequest(orchestratorInfo({ orch, faceValue: 10n ** 15n }), { type: 3 }));
    const cheaper = orchestratorInfo({ orch, faceValue: 10n ** 12n });
    const before = d.signer.signCount();
    const err = await client
      .generateLivePayment(paymentRequest(cheaper, { type: 3, state: first.state, strictNoTickets: true }))
      .then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.AlreadyExists);
    const [detail] = err!.findDetails(NoTicketsNeededDetailSchema);
    expect(detail?.state?.state.length).toBeGreaterThan(0);
    expect(detail?.balance).toBe(Rat.parse(first.balance)!.sub(new Rat(1n)).toString());
    expect(d.signer.signCount() - before).toBe(1);
  });
});

describe("GetSignerStatus says when the signer's funds refuse payments", () => {
  const cases: [string, Partial<typeof CHAIN.sender>, string][] = [
    ["funded", {}, ""],
    ["no reserve", { reserve: 0n }, "no sender reserve"],
    ["no deposit", { deposit: 0n }, "no sender deposit"],
    ["unlocking", { withdrawRound: CHAIN.lastInitializedRound }, "unable to validate sender: deposit and reserve is set to unlock soon"],
  ];
  test.each(cases)("%s", async (_name, sender, problem) => {
    const d = testDeps({ chain: createStaticChainView({ ...CHAIN, sender: { ...CHAIN.sender, ...sender } }) });
    const status = createSignerStatus({
      signer: d.signer,
      chain: d.deps.chain,
      limits: DEFAULT_SENDER_LIMITS,
      prices: NO_PRICE_LIMITS,
      webhookConfigured: false,
      version: "test",
    });
    const client = createClient(SignerService, createRouterTransport(signerRoutes({ payments: d.deps, orchInfoSignature: new Uint8Array(65), status })));
    expect((await client.getSignerStatus({})).fundingProblem).toBe(problem);
    const paid = await client.generateLivePayment(paymentRequest(orchestratorInfo())).then(
      () => "paid",
      (e: unknown) => ConnectError.from(e).code,
    );
    expect(paid).toBe(problem === "" ? "paid" : Code.FailedPrecondition);
  });
});

describe("status tables", () => {
  const rat = (s: string) => Rat.parse(s)!;
  // kind, error, Connect code, legacy status, legacy message, legacy headers
  const TABLE: [string, errors.PaymentError, Code, number, string, Record<string, string>][] = [
    ["invalid-argument", errors.invalidArgument("app: longer than 256 characters"), Code.InvalidArgument, 400, "app: longer than 256 characters", {}],
    ["refresh-session", errors.refreshSession(URL, "auth token expired"), Code.FailedPrecondition, 480, "refresh session for remote signer", { "Livepeer-Orchestrator-URL": URL }],
    ["price-exceeded", errors.priceExceeded("request maxPrice", rat("3/2"), rat("1")), Code.ResourceExhausted, 481, "orchestrator price 1.500 exceeds request maxPrice ceiling 1.000", {}],
    ["no-tickets", errors.noTickets(), Code.FailedPrecondition, 482, "no tickets", {}],
    ["auth-rejected 403", errors.authRejected(403, "no"), Code.PermissionDenied, 403, "no", {}],
    ["auth-rejected 401", errors.authRejected(401, "no"), Code.Unauthenticated, 401, "no", {}],
    ["auth-rejected 429", errors.authRejected(429, "no"), Code.ResourceExhausted, 429, "no", {}],
    ["auth-rejected 1xx", errors.authRejected(102, "no"), Code.PermissionDenied, 500, "no", {}],
    ["auth-rejected 1000", errors.authRejected(1000, "no"), Code.PermissionDenied, 500, "no", {}],
    ["auth-bad-price", errors.authBadPrice("signer auth invalid maxPrice: x"), Code.Internal, 502, "signer auth invalid maxPrice: x", {}],
    ["unfunded", errors.unfunded("remote signer could not check whether to refresh session: no sender reserve"), Code.FailedPrecondition, 400, "remote signer could not check whether to refresh session: no sender reserve", {}],
    ["unavailable", errors.unavailable("chain view is stale"), Code.Unavailable, 503, "chain view is stale", {}],
    ["internal", errors.internal("remote signer auth ID changed"), Code.Internal, 500, "remote signer auth ID changed", {}],
  ];
  test.each(TABLE)("%s", (_kind, err, code, status, message, headers) => {
    expect(toConnectError(err).code).toBe(code);
    expect(legacyError(err)).toEqual({ status, message, headers });
  });
  test("the tables cover every kind", () => {
    const kinds = new Set(TABLE.map(([, err]) => err.kind));
    expect([...kinds].sort()).toEqual(Object.keys(SCENARIOS).sort());
  });
});
