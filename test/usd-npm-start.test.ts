/**
 * What a new user runs for USD ceilings: `npm start -- -maxPricePerUnit 0.01USD` on a fresh
 * machine (no -priceFeedAddr: the dev chain's own ETH / USD feed), with -workers 2 so the
 * primary's one feed reader is relayed to the workers. It serves, prices the dev orchestrators
 * under the converted ceiling (discovery and the example gateway), and when its feed stops
 * updating every worker refuses and is unready until the feed is moved on the chain.
 */
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Contract, JsonRpcProvider, Wallet } from "ethers";
import { afterAll, beforeAll, expect, test, vi } from "vitest";
import { runGateway } from "../examples/gateway.js";
import { startNpm, type NpmStart } from "./support/npm-start.js";
import { SignerService } from "../gen/livepeer/signer/v1/signer_pb.js";
import artifacts from "../src/dev-chain/artifacts/contracts.json" with { type: "json" };
import { devAccountKeys, DEV_PRICE_FEED_ANSWER } from "../src/dev-chain/dev-chain.js";

const MAX_AGE_S = 10;
let signer: NpmStart;

beforeAll(async () => {
  signer = await startNpm(["-httpAddr", "127.0.0.1:0", "-logLevel", "warn", "-workers", "2", "-maxPricePerUnit", "0.01USD", "-priceFeedMaxAge", `${MAX_AGE_S}s`, "-priceFeedPollInterval", "200ms"]);
}, 120_000);

afterAll(() => signer?.stop(), 20_000);

const line = (label: string) => new RegExp(`${label}:\\s+(\\S+)`).exec(signer.banner())?.[1];

test("npm start -- -maxPricePerUnit 0.01USD serves and prices; a stale feed is refused by every worker until it moves", async () => {
  const signerUrl = line("serving")!;
  const feedAddress = line("price feed")!;
  const chainUrl = line("dev chain")!;
  expect(feedAddress).toMatch(/^0x[0-9a-fA-F]{40}$/);
  const client = createClient(SignerService, createConnectTransport({ baseUrl: signerUrl, httpVersion: "1.1" }));
  /** A new round of the dev feed at 3000 USD per ETH, stamped now, sent as any user would over JSON-RPC. */
  const moveFeed = async () => {
    const provider = new JsonRpcProvider(chainUrl, undefined, { staticNetwork: true });
    const feed = new Contract(feedAddress, artifacts.contracts.DevPriceFeed.abi, new Wallet(devAccountKeys()[0]!, provider));
    await (await feed.getFunction("setAnswer")(DEV_PRICE_FEED_ANSWER, BigInt(Math.floor(Date.now() / 1000)))).wait();
    provider.destroy();
  };
  await moveFeed();
  await vi.waitFor(async () => expect((await client.getSignerStatus({})).limits?.priceFeed?.usable).toBe(true), { timeout: 10_000, interval: 100 });

  // The dev feed's 3000 USD per ETH: 0.01 USD per pixel is 10^13/3 wei.
  const { limits } = await client.getSignerStatus({});
  expect(limits?.maxPricePerUnit).toBe("10000000000000/3");
  expect(limits?.maxPriceCurrency).toBe("USD");
  expect(limits?.priceFeed).toMatchObject({ address: feedAddress, description: "ETH / USD", answer: DEV_PRICE_FEED_ANSWER.toString(), usable: true });

  // Prices: the dev orchestrators (1 wei per unit) are under the ceiling; discovery finds them and the gateway pays.
  await vi.waitFor(
    async () => expect(((await (await fetch(`${signerUrl}/discover-orchestrators?caps=live-video-to-video/streamdiffusion`)).json()) as unknown[]).length).toBe(1),
    { timeout: 20_000, interval: 100 },
  );
  const results = await runGateway({ signerUrl, cycles: 2, intervalMs: 200 });
  expect(results[0]!.kind).toBe("pay");

  // No feed update for longer than -priceFeedMaxAge: each worker (fresh connections) refuses.
  await vi.waitFor(async () => expect((await fetch(`${signerUrl}/readyz`)).status).toBe(503), { timeout: (MAX_AGE_S + 10) * 1000, interval: 200 });
  for (let i = 0; i < 4; i++) {
    const res = await fetch(`${signerUrl}/readyz`, { headers: { connection: "close" } });
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/^cannot price: price feed 0x[0-9a-fA-F]{40} stale/);
  }
  await expect(runGateway({ signerUrl, cycles: 1, intervalMs: 0 })).rejects.toSatisfy((e: unknown) => ConnectError.from(e).code === Code.Unavailable);

  // The feed moves on the dev chain: every worker recovers by itself.
  await moveFeed();
  await vi.waitFor(async () => expect((await fetch(`${signerUrl}/readyz`, { headers: { connection: "close" } })).status).toBe(200), { timeout: 10_000, interval: 100 });
  expect((await runGateway({ signerUrl, cycles: 1, intervalMs: 0 }))[0]!.kind).toBe("pay");
}, 90_000);
