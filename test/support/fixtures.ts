import { create, toBinary } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import {
  AuthTokenSchema,
  OrchestratorInfoSchema,
  PriceInfoSchema,
  TicketExpirationParamsSchema,
  TicketParamsSchema,
  type OrchestratorInfo,
} from "../../gen/net/lp_rpc_pb.js";
import { createStaticChainView, type ChainSnapshot } from "../../src/chain/chain-view.js";
import { bigintToBytes, keccak256, writeUint256 } from "../../src/crypto/bytes.js";
import { createEthSigner, type EthSigner } from "../../src/crypto/eth-sign.js";
import type { Clock } from "../../src/clock.js";
import type { PaymentDeps, PaymentRequest } from "../../src/payment/generate-payment.js";
import { parseJobType } from "../../src/pricing/job-type.js";
import { Rat } from "../../src/math/rat.js";
import { DEFAULT_SENDER_LIMITS } from "../../src/pm/sender-validation.js";
import { MAX_WIN_PROB } from "../../src/pm/ticket.js";
import { NO_PRICE_LIMITS } from "../../src/pricing/price-limits.js";

/** A fresh random key per test run: never a real key. */
export function testSigner(): EthSigner & { signCount: () => number } {
  const inner = createEthSigner(randomBytes(32));
  let count = 0;
  return {
    address: inner.address,
    addressHex: inner.addressHex,
    backend: inner.backend,
    sign(m) {
      count++;
      return inner.sign(m);
    },
    signCount: () => count,
  };
}

export const T0 = 1_800_000_000n * 1_000_000_000n; // a fixed "now", ns

/** A controllable wall clock (ms, the Clock shape); set() takes ns, advance() seconds. */
export function testClock(start = T0) {
  let nowMs = 0;
  const clock: Clock & { advance(seconds: number): void; set(ns: bigint): void } = Object.assign(() => nowMs, {
    advance(seconds: number) {
      nowMs += seconds * 1000;
    },
    set(ns: bigint) {
      nowMs = Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6;
    },
  });
  clock.set(start);
  return clock;
}

export const CHAIN: Omit<ChainSnapshot, "readAt"> = {
  chainId: 1337n,
  lastInitializedRound: 4000n,
  lastInitializedBlockHash: new Uint8Array(32).fill(0xab),
  lastSeenL1Block: 1000n,
  sender: { deposit: 10n ** 19n, reserve: 10n ** 19n, withdrawRound: 0n },
};

export function testDeps(overrides: Partial<PaymentDeps> = {}) {
  const signer = testSigner();
  const clock = testClock();
  const deps: PaymentDeps = {
    signer,
    chain: createStaticChainView(CHAIN),
    limits: DEFAULT_SENDER_LIMITS,
    prices: NO_PRICE_LIMITS,
    clock,
    webhook: undefined,
    ...overrides,
  };
  return { deps, signer, clock };
}

/** An orchestrator whose recipientRand we know, so tests can check wins and verify as it would. */
export interface TestOrchestrator {
  recipient: Uint8Array;
  recipientRand: bigint;
  recipientRandHash: Uint8Array;
}

export function testOrchestrator(): TestOrchestrator {
  const recipient = randomBytes(20);
  const recipientRand = BigInt("0x" + randomBytes(32).toString("hex"));
  const buf = new Uint8Array(32);
  writeUint256(buf, 0, recipientRand);
  return { recipient, recipientRand, recipientRandHash: keccak256(buf) };
}

export interface OrchInfoOptions {
  orch?: TestOrchestrator;
  pricePerUnit?: bigint;
  pixelsPerUnit?: bigint;
  faceValue?: bigint;
  winProb?: bigint;
  expirationBlock?: bigint;
  creationRound?: bigint;
  authExpiration?: bigint;
  transcoder?: string;
}

export function orchestratorInfo(o: OrchInfoOptions = {}): OrchestratorInfo {
  const orch = o.orch ?? testOrchestrator();
  return create(OrchestratorInfoSchema, {
    transcoder: o.transcoder ?? "https://orch.test:8935",
    address: orch.recipient,
    priceInfo: create(PriceInfoSchema, { pricePerUnit: o.pricePerUnit ?? 1n, pixelsPerUnit: o.pixelsPerUnit ?? 1n }),
    ticketParams: create(TicketParamsSchema, {
      recipient: orch.recipient,
      faceValue: bigintToBytes(o.faceValue ?? 1_000_000_000_000n),
      winProb: bigintToBytes(o.winProb ?? MAX_WIN_PROB / 1000n),
      recipientRandHash: orch.recipientRandHash,
      seed: bigintToBytes(0x1234n),
      expirationBlock: bigintToBytes(o.expirationBlock ?? 2000n),
      expirationParams:
        o.creationRound === 0n
          ? undefined
          : create(TicketExpirationParamsSchema, {
              creationRound: o.creationRound ?? 4000n,
              creationRoundBlockHash: new Uint8Array(32).fill(0xab),
            }),
    }),
    authToken: create(AuthTokenSchema, {
      token: new Uint8Array(16).fill(7),
      sessionId: "sess-1",
      expiration: o.authExpiration ?? T0 / 1_000_000_000n + 1800n,
    }),
  });
}

export const orchestratorInfoBytes = (info: OrchestratorInfo) => toBinary(OrchestratorInfoSchema, info);

export const rat = (s: string) => Rat.parse(s)!;

/** A transport-neutral PaymentRequest (as a transport builds it); type is the wire name. */
export type DomainRequestInit = Partial<Omit<PaymentRequest, "type">> & { type?: string };
export const domainRequest = ({ type = "lv2v", ...over }: DomainRequestInit = {}): PaymentRequest => ({
  orchestrator: orchestratorInfo(),
  state: undefined,
  manifestId: "manifest-1",
  app: "",
  type: parseJobType(type),
  inPixels: 0n,
  maxPrice: undefined,
  capabilities: { ok: true, value: undefined },
  headers: () => ({}),
  authIdHeader: "",
  ...over,
});
