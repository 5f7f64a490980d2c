/**
 * The caches on the payment path hold nothing a client sent beyond what they need: a string cut
 * from a request body by the JSON reader can be a V8 slice that keeps the whole body alive, so a
 * cache keeping such a string would keep megabytes per entry (found in review of issue 15).
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { expect, test } from "vitest";
import { parseLegacyPaymentRequest } from "../src/legacy/legacy-routes.js";
import { generatePayment } from "../src/payment/generate-payment.js";
import { IssuedStates } from "../src/state/issued-states.js";
import { readPaymentRequestJson } from "../src/wire/payment-request.js";
import { orchestratorInfo, orchestratorInfoBytes, testDeps } from "./support/fixtures.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const MiB = 1 << 20;
const heapMiB = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / MiB;
};
const padding = () => "x".repeat(MiB);
const ROUNDS = 40;

test("remembered states keep no request body alive", async () => {
  const { deps } = testDeps({ issuedStates: new IssuedStates() });
  const info = Buffer.from(orchestratorInfoBytes(orchestratorInfo())).toString("base64");
  const before = heapMiB();
  for (let i = 0; i < ROUNDS; i++) {
    // A new session each time, its app id cut from a 1 MiB body (the unknown key is ignored, as in Go).
    const body = Buffer.from(`{"orchestrator":"${info}","type":"fixed","app":"my-application-${i}","pad":"${padding()}"}`);
    const r = await generatePayment(deps, parseLegacyPaymentRequest(body, () => ({}), ""));
    expect(r.kind).toBe("paid");
  }
  expect(deps.issuedStates!.size).toBe(ROUNDS);
  expect(heapMiB() - before).toBeLessThan(ROUNDS / 4);
});

test("remembered OrchestratorInfo texts keep no request body alive", () => {
  const before = heapMiB();
  for (let i = 0; i < ROUNDS; i++) {
    const text = Buffer.alloc(300, i).toString("base64");
    readPaymentRequestJson(`{"orchestrator":"${text}","pad":"${padding()}"}`);
  }
  expect(heapMiB() - before).toBeLessThan(ROUNDS / 4);
});
