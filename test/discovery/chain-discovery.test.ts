/**
 * Issue 12 item 4: on-chain discovery polls only the orchestrators active in the last initialized
 * round, against the dev chain's Livepeer-shaped BondingManager.
 */
import { Wallet } from "ethers";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createChainView } from "../../src/chain/chain-client.js";
import type { ChainView } from "../../src/chain/chain-view.js";
import { fromHex } from "../../src/crypto/bytes.js";
import { createEthSigner } from "../../src/crypto/eth-sign.js";
import { startDevChain, type DevChain } from "../../src/dev-chain/dev-chain.js";
import { createChainSource, createDiscovery } from "../../src/discovery/index.js";
import { createPriceLimits } from "../../src/pricing/price-limits.js";
import { startFakeOrchestrator, type FakeOrchestrator } from "./fake-orchestrator.js";

const signer = createEthSigner(fromHex("0x" + "33".repeat(32))); // test-only key
const LV2V = 35;
let chain: DevChain;
let view: ChainView;
let active: FakeOrchestrator;
let pending: FakeOrchestrator;
let leaving: FakeOrchestrator;

const fake = (b: number) =>
  startFakeOrchestrator({
    info: () => ({
      address: new Uint8Array(20).fill(b),
      priceInfo: { pricePerUnit: 1n, pixelsPerUnit: 1n },
      capabilities: { constraints: { PerCapability: { [LV2V]: { models: { sd: {} } } } } },
    }),
  });

beforeAll(async () => {
  chain = await startDevChain();
  [active, pending, leaving] = await Promise.all([fake(1), fake(2), fake(3)]);
  view = await createChainView({ ethUrl: chain.url, controllerAddress: chain.controllerAddress, signerAddress: signer.addressHex });
  await chain.registerOrchestrator({ address: Wallet.createRandom().address, serviceUri: active.url });
  await chain.registerOrchestrator({ address: Wallet.createRandom().address, serviceUri: leaving.url });
  // Registered in this round: active from the next one, as on Livepeer.
  await chain.registerOrchestrator({ address: Wallet.createRandom().address, serviceUri: pending.url, activeNow: false });
});

afterAll(async () => {
  await view?.close();
  await Promise.all([active, pending, leaving].map((o) => o?.close()));
  await chain?.close();
});

test("registered but not yet active is not polled; deactivated stops being polled after its last round", async () => {
  const discovery = createDiscovery({ source: createChainSource(view), signer, prices: createPriceLimits({ maxPricePerUnit: "0", pixelsPerUnit: "1", maxPricePerCapability: "" }), timeoutMs: 5_000 });
  const polledNow = async () => {
    const before = [active, pending, leaving].map((o) => o.accepted.length);
    await discovery.refresh();
    return [active, pending, leaving].filter((o, i) => o.accepted.length > before[i]!).map((o) => o.url);
  };
  try {
    expect(await polledNow()).toEqual([active.url, leaving.url]);
    expect(discovery.snapshot().orchestrators.map((x) => x.url)).toEqual([active.url, leaving.url]);

    // Out of the pool at once, but active (and polled) until the round ends.
    const leavingAddress = (await view.registeredOrchestrators()).find((o) => o.serviceUri === leaving.url)!.address;
    await chain.resignOrchestrator({ address: leavingAddress });
    expect(await polledNow()).toEqual([active.url, leaving.url]);

    await chain.advanceRound();
    expect(await polledNow()).toEqual([active.url, pending.url]);
    expect(discovery.snapshot().orchestrators.map((x) => x.url)).toEqual([active.url, pending.url]);
  } finally {
    discovery.close();
  }
});
