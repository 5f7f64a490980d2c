import { createClient, createRouterTransport, ConnectError, Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { RefreshSessionDetailSchema, SignerService } from "../../gen/livepeer/signer/v1/signer_pb.js";
import { toHex } from "../../src/crypto/bytes.js";
import { signerRoutes } from "../../src/service/signer-service.js";
import { signState, type PaymentState } from "../../src/state/payment-state.js";
import { GO_ZERO_TIME_NS } from "../../src/go/time.js";
import { orchestratorInfo, testOrchestrator, type TestOrchestrator } from "../support/fixtures.js";
import { gatewayPaymentBody, paymentRequest, rawRequest, startTestServer, testStatus, type RunningTestServer } from "../support/net-server.js";

// go-livepeer #4028: with the state's PMSessionID equal to the params' session and SenderNonce
// >= 500, the signer answers 480 + Livepeer-Orchestrator-URL; another session starts at 0.
let srv: RunningTestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(() => srv.close(100));

const ORCH_URL = "https://orch.example:8935";

function stateAt(orch: TestOrchestrator, nonce: number, pmSessionId: string) {
  const state: PaymentState = {
    stateId: "state",
    pmSessionId,
    lastUpdate: GO_ZERO_TIME_NS,
    orchestratorAddress: orch.recipient,
    app: "",
    authExpiry: 0n,
    senderNonce: nonce,
    balance: "",
    initialPricePerUnit: 1n,
    initialPixelsPerUnit: 1n,
    type: "",
    sequenceNumber: 0n,
    authId: "",
  };
  return signState(state, srv.signer);
}

const CASES: [string, number, "same" | "other", boolean][] = [
  ["below the threshold", 499, "same", false],
  ["at the threshold", 500, "same", true],
  ["above the threshold", 4_000_000_000, "same", true],
  ["ticket params already refreshed (other PMSessionID)", 500, "other", false],
];

describe("refresh at sender nonce 500", () => {
  test.each(CASES)("legacy: %s", async (_name, nonce, session, refresh) => {
    const orch = testOrchestrator();
    const info = orchestratorInfo({ orch, transcoder: ORCH_URL });
    const pmSessionId = session === "same" ? "0x" + toHex(orch.recipientRandHash) : "old-session";
    const s = stateAt(orch, nonce, pmSessionId);
    const before = srv.signer.signCount();
    const res = await rawRequest(srv.url + "/generate-live-payment", {
      method: "POST",
      body: gatewayPaymentBody(info, {
        state: { State: Buffer.from(s.state).toString("base64"), Sig: Buffer.from(s.sig).toString("base64") },
        extra: { type: "", inPixels: 1 },
      }),
    });
    if (refresh) {
      expect(res.status).toBe(480);
      expect(res.headers["livepeer-orchestrator-url"]).toBe(ORCH_URL);
      expect(res.body).toBe('{"error":{"message":"refresh session for remote signer"}}\n');
      expect(srv.signer.signCount()).toBe(before);
    } else {
      expect(res.status, res.body).toBe(200);
      const payment = JSON.parse(res.body) as { payment: string };
      expect(payment.payment).not.toBe("");
    }
  });

  test.each(CASES)("Connect: %s", async (_name, nonce, session, refresh) => {
    const transport = createRouterTransport(
      signerRoutes({ payments: srv.deps, orchInfoSignature: new Uint8Array(65), status: testStatus(srv) }),
    );
    const client = createClient(SignerService, transport);
    const orch = testOrchestrator();
    const pmSessionId = session === "same" ? "0x" + toHex(orch.recipientRandHash) : "old-session";
    const s = stateAt(orch, nonce, pmSessionId);
    const req = paymentRequest(orchestratorInfo({ orch, transcoder: ORCH_URL }), { type: 0, inPixels: 1n, state: s });
    const before = srv.signer.signCount();
    const result = await client.generateLivePayment(req).catch((e: unknown) => ConnectError.from(e));
    if (refresh) {
      expect(result).toBeInstanceOf(ConnectError);
      const err = result as ConnectError;
      expect(err.code).toBe(Code.FailedPrecondition);
      const [detail] = err.findDetails(RefreshSessionDetailSchema);
      expect(detail?.orchestratorUrl).toBe(ORCH_URL);
      expect(detail?.reason).toBe("sender nonce limit reached");
      expect(srv.signer.signCount()).toBe(before);
    } else {
      expect(result).not.toBeInstanceOf(ConnectError);
      expect((result as { numTickets: number }).numTickets).toBeGreaterThan(0);
    }
  });
});
