/**
 * npm run bench: signing throughput of the hot path with each secp256k1 backend.
 * Medians over repeated rounds; a benchmark, not a test.
 */
import { create } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import { PriceInfoSchema } from "../gen/net/lp_rpc_pb.js";
import { createEthSigner, nativeBackendAvailable, verifySignature, type SignatureBackend } from "../src/crypto/eth-sign.js";
import { createPayment } from "../src/pm/ticket-batch.js";
import { MAX_WIN_PROB } from "../src/pm/ticket.js";
import { openState, signState, type PaymentState } from "../src/state/payment-state.js";

const ROUNDS = 15;
const key = randomBytes(32); // throwaway

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median operations per second of fn, which performs `ops` operations per call. */
function measure(fn: () => void, ops: number, iterations: number): number {
  for (let i = 0; i < Math.max(3, iterations / 10); i++) fn(); // warm up
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) fn();
    rates.push((ops * iterations) / ((performance.now() - t0) / 1000));
  }
  return median(rates);
}

const params = {
  recipient: randomBytes(20),
  faceValue: 1_000_000_000_000n,
  winProb: MAX_WIN_PROB / 1000n,
  recipientRandHash: randomBytes(32),
  seed: 1234n,
  expirationBlock: 1_000_000n,
  expiration: { creationRound: 4000n, creationRoundBlockHash: randomBytes(32) },
};
const state: PaymentState = {
  stateId: "0badc0de",
  pmSessionId: "0x" + "2c".repeat(32),
  lastUpdate: 1_800_000_000_000_000_000n,
  orchestratorAddress: params.recipient,
  app: "",
  authExpiry: 0n,
  senderNonce: 8,
  balance: "1237/7",
  initialPricePerUnit: 1200n,
  initialPixelsPerUnit: 1n,
  type: "lv2v",
  sequenceNumber: 3n,
  authId: "",
};

const opened = (s: ReturnType<typeof signState>, address: Uint8Array) => openState(s, address);
const backends: SignatureBackend[] = nativeBackendAvailable() ? ["native", "noble"] : ["noble"];
const results: Record<string, Record<string, number>> = {};
for (const backend of backends) {
  const signer = createEthSigner(key, backend);
  const expectedPrice = create(PriceInfoSchema, { pricePerUnit: 1200n, pixelsPerUnit: 1n });
  const signed = signState(state, signer);
  results[backend] = {
    "state verify+parse, default backend (/s)": measure(() => opened(signed, signer.address), 1, 500),
    "ticket batch of 10 (tickets/s)": measure(
      () => createPayment({ params, expectedPrice, fallbackExpiration: params.expiration, lastNonce: 0, count: 10, signer }),
      10,
      backend === "native" ? 100 : 10,
    ),
    "state sign (signs/s)": measure(() => signState(state, signer), 1, backend === "native" ? 1000 : 100),
    "signature recover (recovers/s)": measure(
      () => verifySignature(signer.address, signed.state, signed.sig, backend),
      1,
      backend === "native" ? 1000 : 100,
    ),
  };
}

console.log(`node ${process.version}, ${ROUNDS} rounds, medians`);
for (const metric of Object.keys(results[backends[0]!]!)) {
  const cells = backends.map((b) => `${b}: ${Math.round(results[b]![metric]!).toLocaleString("en-US")}`);
  const ratio = backends.length === 2 ? `  (native/noble ${(results.native![metric]! / results.noble![metric]!).toFixed(1)}x)` : "";
  console.log(`${metric.padEnd(34)} ${cells.join("   ")}${ratio}`);
}
