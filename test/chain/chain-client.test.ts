import { Contract, Wallet, hexlify, parseEther } from "ethers";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { createChainView, networkControllers, redactEthUrl } from "../../src/chain/chain-client.js";
import { ChainUnavailableError, type ChainView } from "../../src/chain/chain-view.js";
import { startDevChain, type DevChain } from "../../src/dev-chain/dev-chain.js";

// Test-only key, generated for this run.
const signer = Wallet.createRandom();
const deposit = parseEther("2");
const reserve = parseEther("3");

let chain: DevChain;
let view: ChainView;
let rounds: Contract;

beforeAll(async () => {
  chain = await startDevChain({ signer: { address: signer.address, deposit, reserve } });
  rounds = new Contract(chain.contracts.RoundsManager, chain.abis.RoundsManager, chain.provider);
  view = await createChainView({
    ethUrl: chain.url,
    controllerAddress: chain.controllerAddress,
    signerAddress: signer.address,
    refreshIntervalMs: 50,
    devChain: true,
  });
});

afterAll(async () => {
  await view?.close();
  await chain?.close();
});

const waitFor = <T>(check: () => T) => vi.waitFor(check, { timeout: 5000, interval: 25 });

describe("chain view against the dev chain", () => {
  test("first snapshot: chain id, round, its block hash, L1 block and sender funds", async () => {
    const snapshot = view.current();
    expect(snapshot.chainId).toBe(chain.chainId);
    expect(snapshot.lastInitializedRound).toBe(await rounds.getFunction("lastInitializedRound")());
    const hash = (await rounds.getFunction("blockHashForRound")(snapshot.lastInitializedRound)) as string;
    expect(hexlify(snapshot.lastInitializedBlockHash)).toBe(hash);
    expect(snapshot.lastInitializedBlockHash).toHaveLength(32);
    expect(hash).not.toBe(`0x${"00".repeat(32)}`);
    expect(snapshot.lastSeenL1Block).toBe(BigInt(await chain.provider.getBlockNumber()));
    expect(snapshot.sender).toEqual({ deposit, reserve, withdrawRound: 0n });
    const status = view.status();
    expect(status).toMatchObject({ stale: false, devChain: true, ethUrl: chain.url });
  });

  test("a new round is picked up after a refresh", async () => {
    const before = view.current().lastInitializedRound;
    const round = await chain.advanceRound();
    expect(round).toBe(before + 1n);
    const hash = (await rounds.getFunction("blockHashForRound")(round)) as string;
    await waitFor(() => expect(view.current().lastInitializedRound).toBe(round));
    expect(hexlify(view.current().lastInitializedBlockHash)).toBe(hash);
  });

  test("mined blocks move the last seen L1 block", async () => {
    const before = view.current().lastSeenL1Block;
    await chain.mineBlocks({ count: 7 });
    await waitFor(() => expect(view.current().lastSeenL1Block).toBe(before + 7n));
  });

  test("a deposit change is picked up after a refresh", async () => {
    await chain.fundSender({ address: signer.address, eth: 0n, deposit: parseEther("1"), reserve: 0n });
    await waitFor(() => expect(view.current().sender.deposit).toBe(deposit + parseEther("1")));
    expect(view.current().sender.reserve).toBe(reserve);
  });

  test("registeredOrchestrators walks the pool and reads service URIs", async () => {
    const orchestrators = [Wallet.createRandom().address, Wallet.createRandom().address];
    await chain.registerOrchestrator({ address: orchestrators[0]!, serviceUri: "https://o1.example:8935" });
    await chain.registerOrchestrator({ address: orchestrators[1]!, serviceUri: "https://o2.example:8935" });
    expect(await view.registeredOrchestrators()).toEqual([
      { address: orchestrators[0], serviceUri: "https://o1.example:8935" },
      { address: orchestrators[1], serviceUri: "https://o2.example:8935" },
    ]);
  });

  test("registeredOrchestrators lists only those active in the last initialized round (activationRound <= round < deactivationRound)", async () => {
    const bonding = new Contract(chain.contracts.BondingManager, chain.abis.BondingManager, chain.provider);
    const before = await view.registeredOrchestrators();
    const pending = Wallet.createRandom().address;
    const leaving = Wallet.createRandom().address;
    await chain.registerOrchestrator({ address: leaving, serviceUri: "https://leaving.example:8935" });
    await chain.registerOrchestrator({ address: pending, serviceUri: "https://pending.example:8935", activeNow: false });
    const round = (await rounds.getFunction("currentRound")()) as bigint;
    expect((await bonding.getFunction("getTranscoder")(pending)).activationRound).toBe(round + 1n);
    expect(await bonding.getFunction("isActiveTranscoder")(pending)).toBe(false);
    expect(await view.registeredOrchestrators()).toEqual([...before, { address: leaving, serviceUri: "https://leaving.example:8935" }]);

    // Resigning leaves the pool at once, but the orchestrator stays active until the round ends.
    await chain.resignOrchestrator({ address: leaving });
    expect(await bonding.getFunction("isRegisteredTranscoder")(leaving)).toBe(false);
    expect((await bonding.getFunction("getTranscoder")(leaving)).deactivationRound).toBe(round + 1n);
    expect(await view.registeredOrchestrators()).toEqual([...before, { address: leaving, serviceUri: "https://leaving.example:8935" }]);

    await chain.advanceRound();
    expect(await view.registeredOrchestrators()).toEqual([...before, { address: pending, serviceUri: "https://pending.example:8935" }]);
    expect(await bonding.getFunction("isActiveTranscoder")(leaving)).toBe(false);
  });

  test("an unfunded signer reads as zero funds", async () => {
    const other = await createChainView({
      ethUrl: chain.url,
      controllerAddress: chain.controllerAddress,
      signerAddress: Wallet.createRandom().address,
    });
    expect(other.current().sender).toEqual({ deposit: 0n, reserve: 0n, withdrawRound: 0n });
    expect(other.status().devChain).toBe(false);
    await other.close();
  });

  test("creation fails clearly when the first read fails", async () => {
    const wrongController = createChainView({
      ethUrl: chain.url,
      controllerAddress: chain.accounts[5]!.address,
      signerAddress: signer.address,
    });
    await expect(wrongController).rejects.toThrow(ChainUnavailableError);
    await expect(wrongController).rejects.toThrow(/no contract at Controller address/);

    // A contract that is not a Controller: getContract does not decode.
    await expect(
      createChainView({ ethUrl: chain.url, controllerAddress: chain.contracts.ServiceRegistry, signerAddress: signer.address }),
    ).rejects.toThrow(ChainUnavailableError);

    await expect(
      createChainView({ ethUrl: "http://127.0.0.1:1", controllerAddress: chain.controllerAddress, signerAddress: signer.address }),
    ).rejects.toThrow(/cannot read the chain at http:\/\/127\.0\.0\.1:1/);
  });
});

test("network Controller defaults match the reference's table", () => {
  expect(networkControllers["arbitrum-one-mainnet"]).toBe("0xD8E8328501E9645d16Cf49539efC04f734606ee4");
  expect(networkControllers.mainnet.toLowerCase()).toBe("0xf96d54e490317c557a967abfa5d6e33006be69b3");
});

test("RPC URLs are logged without credentials, path or query", () => {
  expect(redactEthUrl("https://user:pw@arb1.example.com/v2/SECRETKEY?x=1")).toBe("https://arb1.example.com/…");
  expect(redactEthUrl("http://127.0.0.1:8545")).toBe("http://127.0.0.1:8545");
});
