/**
 * End to end on a real chain: the signer started from flags against the dev chain over
 * JSON-RPC with a real keystore file; its winning tickets are redeemed by TicketBroker.
 */
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Contract, Wallet, concat, encryptKeystoreJson, hexlify, toBeHex, zeroPadValue } from "ethers";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { JobType, SignerService } from "../gen/livepeer/signer/v1/signer_pb.js";
import { AuthTokenSchema, OrchestratorInfoSchema, PriceInfoSchema, TicketParamsSchema } from "../gen/net/lp_rpc_pb.js";
import { startDevChain, type DevChain } from "../src/dev-chain/dev-chain.js";
import { parseFlags } from "../src/config.js";
import { bigintToBytes, bytesToBigint, fromHex, keccak256, writeUint256, concatBytes } from "../src/crypto/bytes.js";
import { MAX_WIN_PROB } from "../src/pm/ticket.js";
import { startSigner, type RunningSigner } from "../src/start-signer.js";
import { testOrchestrator } from "./support/fixtures.js";

let chain: DevChain;
let signer: RunningSigner;
const orchestratorWallet = Wallet.createRandom(); // test-only
const orch = { ...testOrchestrator(), recipient: fromHex(orchestratorWallet.address) };

beforeAll(async () => {
  chain = await startDevChain({ port: 0 });
  // A real go-ethereum keystore file, made for this run with light scrypt to stay fast.
  const dir = mkdtempSync(join(tmpdir(), "lpsigner-ks-"));
  const key = Wallet.createRandom();
  const json = await encryptKeystoreJson({ address: key.address, privateKey: key.privateKey }, "test-password", { scrypt: { N: 1024 } });
  writeFileSync(join(dir, `UTC--test--${key.address.slice(2).toLowerCase()}`), json);
  writeFileSync(join(dir, "..", `${dir.split("/").pop()}.pw`), "test-password\n");
  await chain.fundSender({ address: key.address, deposit: 10n ** 18n, reserve: 10n ** 18n });
  await chain.registerOrchestrator({ address: orchestratorWallet.address, serviceUri: "https://orch.test:8935" });
  const flags = parseFlags([
    "-ethUrl", chain.url,
    "-ethController", chain.controllerAddress,
    "-ethKeystorePath", dir,
    "-ethAcctAddr", key.address,
    "-ethPassword", join(dir, "..", `${dir.split("/").pop()}.pw`),
    "-httpAddr", "127.0.0.1:0",
    "-chainRefreshInterval", "200ms",
  ])!;
  signer = await startSigner(flags, pino({ level: "silent" }));
  expect(signer.address).toBe(key.address);
});

afterAll(async () => {
  await signer?.close();
  await chain?.close();
});

describe("winning tickets from the running signer", () => {
  test("are redeemed by TicketBroker, paying the recipient; a replay is refused", async () => {
    const client = createClient(SignerService, createGrpcTransport({ baseUrl: signer.url }));
    const status = await client.getSignerStatus({});
    expect(status.chain?.deposit).toBe((10n ** 18n).toString());
    const faceValue = 2_000_000_000_000n; // under the default -maxTicketEV
    const block = await chain.provider.getBlockNumber();
    const info = create(OrchestratorInfoSchema, {
      transcoder: "https://orch.test:8935",
      address: orch.recipient,
      priceInfo: create(PriceInfoSchema, { pricePerUnit: 1n, pixelsPerUnit: 1n }),
      // No expiration params: the signer binds tickets to its own view of the last round.
      ticketParams: create(TicketParamsSchema, {
        recipient: orch.recipient,
        faceValue: bigintToBytes(faceValue),
        winProb: bigintToBytes(MAX_WIN_PROB - 1n),
        recipientRandHash: orch.recipientRandHash,
        seed: bigintToBytes(7n),
        expirationBlock: bigintToBytes(BigInt(block) + 100n),
      }),
      authToken: create(AuthTokenSchema, { token: new Uint8Array(8), sessionId: "s", expiration: BigInt(Math.floor(Date.now() / 1000) + 1800) }),
    });
    const res = await client.generateLivePayment({ orchestrator: info, type: JobType.FIXED, manifestId: "m" });
    expect(res.numTickets).toBe(1);
    const payment = res.payment!;
    const round = (await new Contract(chain.contracts.RoundsManager, chain.abis.RoundsManager, chain.provider).getFunction("lastInitializedRound")()) as bigint;
    expect(payment.expirationParams?.creationRound).toBe(round);

    const tsp = payment.ticketSenderParams[0]!;
    const randWord = new Uint8Array(32);
    writeUint256(randWord, 0, orch.recipientRand);
    expect(bytesToBigint(keccak256(concatBytes(tsp.sig, randWord))) < MAX_WIN_PROB - 1n).toBe(true);
    const ticket = {
      recipient: orchestratorWallet.address,
      sender: signer.address,
      faceValue,
      winProb: MAX_WIN_PROB - 1n,
      senderNonce: BigInt(tsp.senderNonce),
      recipientRandHash: hexlify(orch.recipientRandHash),
      auxData: concat([zeroPadValue(toBeHex(payment.expirationParams!.creationRound), 32), payment.expirationParams!.creationRoundBlockHash]),
    };
    const redeemer = new Wallet(chain.accounts[2]!.privateKey, chain.provider);
    const broker = new Contract(chain.contracts.TicketBroker, chain.abis.TicketBroker, redeemer);
    const before = await chain.provider.getBalance(orchestratorWallet.address);
    const tx = await broker.getFunction("redeemWinningTicket")(ticket, hexlify(tsp.sig), orch.recipientRand);
    expect((await tx.wait())?.status).toBe(1);
    expect(await chain.provider.getBalance(orchestratorWallet.address)).toBe(before + faceValue);
    await expect(broker.getFunction("redeemWinningTicket").staticCall(ticket, hexlify(tsp.sig), orch.recipientRand)).rejects.toMatchObject({
      reason: "ticket is used",
    });

    // The signer sees the deposit drop after its next refresh.
    await new Promise((r) => setTimeout(r, 600));
    expect((await client.getSignerStatus({})).chain?.deposit).toBe((10n ** 18n - faceValue).toString());
  });
});
