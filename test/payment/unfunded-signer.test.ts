/**
 * Issue 12 item 8 end to end: a signer started from flags against the dev chain, whose
 * TicketBroker deposit or reserve is zero, refuses payments with FAILED_PRECONDITION (legacy: the
 * reference's 400 and message) and says why in GetSignerStatus; funded, it pays.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Wallet } from "ethers";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { JobType, SignerService } from "../../gen/livepeer/signer/v1/signer_pb.js";
import { loadConfig, parseFlags } from "../../src/config.js";
import { startDevChain, type DevChain } from "../../src/dev-chain/dev-chain.js";
import { startSigner } from "../../src/start-signer.js";
import { orchestratorInfo, orchestratorInfoBytes } from "../support/fixtures.js";
import { rawRequest } from "../support/net-server.js";

let chain: DevChain;
beforeAll(async () => {
  chain = await startDevChain({ port: 0 });
});
afterAll(() => chain?.close());

describe("a signer whose funds cannot back tickets", () => {
  test.each([
    ["no reserve", { deposit: 10n ** 18n, reserve: 0n }, "no sender reserve"],
    ["no deposit", { deposit: 0n, reserve: 10n ** 18n }, "no sender deposit"],
    ["funded", { deposit: 10n ** 18n, reserve: 10n ** 18n }, ""],
  ])("%s", async (_name, funds, problem) => {
    const wallet = Wallet.createRandom(); // test-only key
    await chain.fundSender({ address: wallet.address, ...funds });
    const flags = parseFlags(["-ethUrl", chain.url, "-ethController", chain.controllerAddress, "-httpAddr", "127.0.0.1:0"], {})!;
    const running = await startSigner(loadConfig(flags, { LPSIGNER_UNSAFE_DEV_PRIVATE_KEY: wallet.privateKey }), pino({ level: "silent" }));
    try {
      const client = createClient(SignerService, createConnectTransport({ baseUrl: running.url, httpVersion: "1.1" }));
      expect((await client.getSignerStatus({})).fundingProblem).toBe(problem);
      // Params that expire well after the dev chain's current block.
      const block = BigInt(await chain.provider.getBlockNumber());
      const info = orchestratorInfo({ expirationBlock: block + 100n, authExpiration: BigInt(Math.floor(Date.now() / 1000)) + 1800n });
      const rpc = await client.generateLivePayment({ orchestrator: info, type: JobType.FIXED, manifestId: "m" }).then(
        (r) => r.numTickets,
        (e: unknown) => ConnectError.from(e),
      );
      const legacy = await rawRequest(running.url + "/generate-live-payment", {
        method: "POST",
        body: JSON.stringify({ orchestrator: Buffer.from(orchestratorInfoBytes(info)).toString("base64"), ManifestID: "m", type: "fixed" }),
      });
      if (problem === "") {
        expect(rpc).toBe(1);
        expect(legacy.status, legacy.body).toBe(200);
        return;
      }
      const message = `remote signer could not check whether to refresh session: ${problem}`;
      expect(rpc).toBeInstanceOf(ConnectError);
      expect((rpc as ConnectError).code).toBe(Code.FailedPrecondition);
      expect((rpc as ConnectError).rawMessage).toBe(message);
      expect(legacy.status).toBe(400);
      expect(legacy.body).toBe(`{"error":{"message":"${message}"}}\n`);
    } finally {
      await running.close();
    }
  });
});
