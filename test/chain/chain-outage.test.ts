import { Wallet } from "ethers";
import { afterAll, beforeAll, expect, test, vi } from "vitest";
import { createChainView, type ChainLogger } from "../../src/chain/chain-client.js";
import { ChainUnavailableError, type ChainView } from "../../src/chain/chain-view.js";
import { startDevChain, type DevChain } from "../../src/dev-chain/dev-chain.js";
import { startCuttableProxy, type CuttableProxy } from "./cuttable-proxy.js";

// Test-only key, generated for this run.
const signer = Wallet.createRandom();
const maxStalenessMs = 600;

let chain: DevChain;
let proxy: CuttableProxy;
let view: ChainView;
const logs: { level: string; msg: string }[] = [];
const logger: ChainLogger = {
  info: (_obj, msg) => logs.push({ level: "info", msg }),
  warn: (_obj, msg) => logs.push({ level: "warn", msg }),
};

beforeAll(async () => {
  chain = await startDevChain({ signer: { address: signer.address } });
  proxy = await startCuttableProxy({ target: chain.url });
  // The short RPC timeout is for the outage below; on a loaded machine the first read may need a retry.
  for (let attempt = 1; ; attempt++) {
    try {
      view = await createChainView({
        ethUrl: proxy.url,
        controllerAddress: chain.controllerAddress,
        signerAddress: signer.address,
        refreshIntervalMs: 50,
        requestTimeoutMs: 200,
        maxStalenessMs,
        logger,
      });
      break;
    } catch (err) {
      if (attempt === 5) throw err;
    }
  }
});

afterAll(async () => {
  await view?.close();
  await proxy?.close();
  await chain?.close();
});

test("serves the cached view within the bound, refuses past it, recovers when the RPC returns", async () => {
  const before = view.current();

  await proxy.cut();
  const cutAt = Date.now();
  // A refresh has failed, but within the staleness bound the last good snapshot is still served.
  await vi.waitFor(() => expect(logs).toContainEqual({ level: "warn", msg: "chain read failed; serving the cached view" }), {
    timeout: 2000,
    interval: 10,
  });
  expect(Date.now() - cutAt).toBeLessThan(maxStalenessMs - 200);
  expect(view.current().lastInitializedRound).toBe(before.lastInitializedRound);

  // The chain moves on while the signer cannot see it.
  const round = await chain.advanceRound();

  await vi.waitFor(() => expect(() => view.current()).toThrow(ChainUnavailableError), { timeout: 5000, interval: 20 });
  expect(Date.now() - cutAt).toBeGreaterThanOrEqual(maxStalenessMs - 100);
  expect(() => view.current()).toThrow(/^chain view is \d+ ms old \(limit 600 ms\)$/); // nothing about the RPC endpoint
  expect(view.status()).toMatchObject({ stale: true });
  expect(view.status().snapshot?.lastInitializedRound).toBe(before.lastInitializedRound);

  await proxy.restore();
  await vi.waitFor(() => expect(view.current().lastInitializedRound).toBe(round), { timeout: 5000, interval: 20 });
  expect(view.status().stale).toBe(false);
  expect(logs).toContainEqual({ level: "info", msg: "chain reads recovered" });
});
