/**
 * USD ceilings end to end: a signer started from flags (-maxPricePerUnit 0.01USD) against the dev
 * chain, whose ETH / USD feed (DevPriceFeed, AggregatorV3-compatible) the test moves. The rate
 * moves mid-session under the session's initial-price rule; a feed that stops updating makes
 * payments under the USD ceiling unavailable on both transports and /readyz 503 with the reason,
 * and all recovers when the feed updates; an unreadable feed starts unavailable; a feed in other
 * currencies fails start-up. Per-capability USD ceilings follow the rate beside wei ones, and a
 * stale rate refuses only the payments that need it.
 */
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ContractFactory, Wallet } from "ethers";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { create } from "@bufbuild/protobuf";
import { CapabilitiesSchema, Capabilities_CapabilityConstraintsSchema } from "../gen/net/lp_rpc_pb.js";
import { JobType, SignerService, type GenerateLivePaymentResponse, type SignerState } from "../gen/livepeer/signer/v1/signer_pb.js";
import { ConfigError, loadConfig, parseFlags } from "../src/config.js";
import { startDevChain, type DevChain } from "../src/dev-chain/dev-chain.js";
import artifacts from "../src/dev-chain/artifacts/contracts.json" with { type: "json" };
import { MAX_WIN_PROB } from "../src/pm/ticket.js";
import { startSigner, type RunningSigner } from "../src/start-signer.js";
import { gatewayPaymentBody, rawRequest } from "./support/net-server.js";
import { orchestratorInfo, testOrchestrator } from "./support/fixtures.js";

const wallet = Wallet.createRandom(); // throwaway, funded on the throwaway chain
const orch = testOrchestrator();
const MAX_AGE_S = 3;
let chain: DevChain;
let signer: RunningSigner;
/** No global ceiling; live-video-to-video/streamdiffusion capped in USD, comfystream in wei. */
let perCapSigner: RunningSigner;
const LV2V = 35;
const PER_CAPABILITY = JSON.stringify({
  capabilities_prices: [
    // 0.02 USD per 10^12 pixels: 20/3 wei per pixel at 3000 USD per ETH.
    { pipeline: "live-video-to-video", model_id: "streamdiffusion", price_per_unit: 0.02, pixels_per_unit: 1_000_000_000_000, currency: "USD" },
    { pipeline: "live-video-to-video", model_id: "comfystream", price_per_unit: 2, pixels_per_unit: 1 },
  ],
});

const nowS = () => BigInt(Math.floor(Date.now() / 1000));
/** USD per ETH with the dev feed's 8 decimals. */
const usd = (dollars: bigint) => dollars * 10n ** 8n;

function start(extra: string[]): Promise<RunningSigner> {
  const flags = parseFlags([
    "-ethUrl", chain.url,
    "-ethController", chain.controllerAddress,
    "-httpAddr", "127.0.0.1:0",
    "-chainRefreshInterval", "200ms",
    // 0.01 USD per 10^12 pixels: at 3000 USD per ETH the ceiling is 10/3 wei per pixel.
    "-maxPricePerUnit", "0.01USD",
    "-pixelsPerUnit", "1000000000000",
    "-priceFeedMaxAge", `${MAX_AGE_S}s`,
    "-priceFeedPollInterval", "100ms",
    ...extra,
  ])!;
  return startSigner(loadConfig(flags, { LPSIGNER_UNSAFE_DEV_PRIVATE_KEY: wallet.privateKey }), pino({ level: "silent" }));
}

beforeAll(async () => {
  chain = await startDevChain({ port: 0 });
  await chain.fundSender({ address: wallet.address });
  await chain.priceFeed.setAnswer({ answer: usd(3000n) });
  signer = await start(["-priceFeedAddr", chain.priceFeed.address]);
  perCapSigner = await start(["-priceFeedAddr", chain.priceFeed.address, "-maxPricePerUnit", "0", "-maxPricePerCapability", PER_CAPABILITY]);
}, 60_000);

afterAll(async () => {
  await signer?.close();
  await perCapSigner?.close();
  await chain?.close();
});

/** An orchestrator asking `price` wei per pixel. */
const info = (price: bigint) =>
  orchestratorInfo({
    orch,
    pricePerUnit: price,
    pixelsPerUnit: 1n,
    winProb: MAX_WIN_PROB / 1000n,
    expirationBlock: 1n << 40n,
    authExpiration: nowS() + 3600n,
  });

const client = () => createClient(SignerService, createConnectTransport({ baseUrl: signer.url, httpVersion: "1.1" }));
const pay = (price: bigint, state?: SignerState) =>
  client().generateLivePayment({ orchestrator: info(price), manifestId: "usd-session", type: JobType.FIXED, ...(state ? { state } : {}) });
/** A payment to perCapSigner for one live-video-to-video model. */
const payModel = (model: string, price: bigint) =>
  createClient(SignerService, createConnectTransport({ baseUrl: perCapSigner.url, httpVersion: "1.1" })).generateLivePayment({
    orchestrator: info(price),
    manifestId: `per-cap-${model}`,
    type: JobType.FIXED,
    capabilities: create(CapabilitiesSchema, {
      constraints: { PerCapability: { [LV2V]: create(Capabilities_CapabilityConstraintsSchema, { models: { [model]: {} } }) } },
    }),
  });
const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => ConnectError.from(e));

/** Moves the feed and waits until both signers' readers have the new answer. */
async function setRate(dollars: bigint): Promise<void> {
  await chain.priceFeed.setAnswer({ answer: usd(dollars) });
  for (const s of [signer, perCapSigner]) {
    const status = () => createClient(SignerService, createConnectTransport({ baseUrl: s.url, httpVersion: "1.1" })).getSignerStatus({});
    await vi.waitFor(async () => expect((await status()).limits?.priceFeed?.answer).toBe(usd(dollars).toString()), { timeout: 10_000, interval: 50 });
  }
}

describe("a signer with -maxPricePerUnit 0.01USD", () => {
  test("shows the ceiling in force, the rate and its age in GetSignerStatus and /metrics", async () => {
    await setRate(3000n);
    const { limits } = await client().getSignerStatus({});
    expect(limits?.maxPricePerUnit).toBe("10/3");
    expect(limits?.configuredMaxPricePerUnit).toBe("1/100000000000000");
    expect(limits?.maxPriceCurrency).toBe("USD");
    const feed = limits!.priceFeed!;
    expect(feed).toMatchObject({ address: chain.priceFeed.address, description: "ETH / USD", answer: "300000000000", decimals: 8, usable: true, problem: "" });
    expect(feed.maxAgeMs).toBe(BigInt(MAX_AGE_S * 1000));
    expect(feed.ageMs).toBeLessThan(BigInt(MAX_AGE_S * 1000));
    expect(feed.weiPerUnit).toBe("1000000000000000/3");
    const metrics = (await rawRequest(`${signer.url}/metrics`)).body;
    expect(metrics).toMatch(/^lpsigner_price_feed_usable 1$/m);
    expect(metrics).toMatch(/^lpsigner_price_feed_rate 3000$/m);
    expect(metrics).toMatch(/^lpsigner_price_feed_age_seconds \d/m);
    expect(metrics).toMatch(/^lpsigner_max_price_wei_per_pixel\{pipeline="",model_id=""\} 3\.333333$/m);
  });

  test("a rate move mid-session: the ceiling follows the rate, the session's initial price still caps it", async () => {
    await setRate(3000n); // ceiling 10/3 wei per pixel
    const first = await pay(3n);
    expect(first.state).toBeDefined();
    let state = first.state!;

    // ETH falls to 2000 USD: the ceiling rises to 5 wei, but the session started at 3 wei.
    await setRate(2000n);
    const raised = await refusal(pay(4n, state));
    expect(raised?.code).toBe(Code.ResourceExhausted);
    expect(raised?.rawMessage).toBe("orchestrator price 4.000 exceeds initial session price ceiling 3.000");
    const same: GenerateLivePaymentResponse = await pay(3n, state);
    expect(same.fee).toBe("3"); // one fixed unit at the session's initial price
    state = same.state!;

    // ETH rises to 4000 USD: the ceiling falls to 2.5 wei, below the session's price.
    await setRate(4000n);
    const over = await refusal(pay(3n, state));
    expect(over?.code).toBe(Code.ResourceExhausted);
    expect(over?.rawMessage).toBe("orchestrator price 3.000 exceeds configured maximum price ceiling 2.500");
    const legacy = await rawRequest(`${signer.url}/generate-live-payment`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: gatewayPaymentBody(info(3n), { extra: { type: "fixed" } }),
    });
    expect(legacy.status).toBe(481);

    // Back to 3000 USD: the session goes on at its initial price.
    await setRate(3000n);
    await pay(3n, state);
  }, 60_000);

  test("per-capability USD ceilings: converted at the current rate beside wei ones, shown per capability", async () => {
    await setRate(3000n);
    const status = await createClient(SignerService, createConnectTransport({ baseUrl: perCapSigner.url, httpVersion: "1.1" })).getSignerStatus({});
    expect(status.limits?.maxPricePerUnit).toBe("");
    expect(status.limits?.capabilityCeilings.map((c) => [c.modelId, c.maxPricePerUnit, c.configuredMaxPricePerUnit, c.currency])).toEqual([
      ["streamdiffusion", "20/3", "1/50000000000000", "USD"],
      ["comfystream", "2", "2", ""],
    ]);
    await payModel("streamdiffusion", 6n);
    expect((await refusal(payModel("streamdiffusion", 7n)))?.rawMessage).toBe("orchestrator price 7.000 exceeds configured maximum price ceiling 6.667");
    await payModel("comfystream", 2n);
    expect((await refusal(payModel("comfystream", 3n)))?.code).toBe(Code.ResourceExhausted);
    // ETH at 6000 USD halves the USD ceiling; the wei one does not move.
    await setRate(6000n);
    expect((await refusal(payModel("streamdiffusion", 6n)))?.rawMessage).toBe("orchestrator price 6.000 exceeds configured maximum price ceiling 3.333");
    await payModel("comfystream", 2n);
    await setRate(3000n);
  }, 30_000);

  test("a feed that stops updating: unavailable on both transports and /readyz 503 with the reason; it recovers when the feed updates", async () => {
    await setRate(3000n);
    const readyz = () => rawRequest(`${signer.url}/readyz`);
    expect((await readyz()).status).toBe(200);
    // No update for longer than -priceFeedMaxAge.
    await vi.waitFor(async () => expect((await readyz()).status).toBe(503), { timeout: (MAX_AGE_S + 5) * 1000, interval: 100 });
    expect((await readyz()).body).toMatch(new RegExp(`^cannot price: price feed ${chain.priceFeed.address} stale: rate updated \\d+s ago \\(limit ${MAX_AGE_S}s\\)\\n$`));
    expect((await rawRequest(`${signer.url}/healthz`)).status).toBe(200);

    const signed = async () => Number(/^lpsigner_tickets_signed_total (\S+)$/m.exec((await rawRequest(`${signer.url}/metrics`)).body)?.[1]);
    const before = await signed();
    expect(before).toBeGreaterThan(0); // the session above signed tickets
    const connect = await refusal(pay(3n));
    expect(connect?.code).toBe(Code.Unavailable);
    expect(connect?.rawMessage).toMatch(/price feed .* stale/);
    const legacy = await rawRequest(`${signer.url}/generate-live-payment`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: gatewayPaymentBody(info(3n), { extra: { type: "fixed" } }),
    });
    expect(legacy.status).toBe(503);
    expect(await signed()).toBe(before);
    const status = await client().getSignerStatus({});
    expect(status.limits?.maxPricePerUnit).toBe("");
    expect(status.limits?.priceFeed?.usable).toBe(false);
    expect((await rawRequest(`${signer.url}/metrics`)).body).toMatch(/^lpsigner_price_feed_usable 0$/m);
    // Only payments that need the USD ceiling are refused: a wei-capped capability still pays.
    expect((await refusal(payModel("streamdiffusion", 6n)))?.code).toBe(Code.Unavailable);
    await payModel("comfystream", 2n);

    await chain.priceFeed.setAnswer({ answer: usd(3000n) });
    await vi.waitFor(async () => expect((await readyz()).status).toBe(200), { timeout: 10_000, interval: 50 });
    expect((await pay(3n)).state).toBeDefined();
    const again = await rawRequest(`${signer.url}/generate-live-payment`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: gatewayPaymentBody(info(3n), { extra: { type: "fixed" } }),
    });
    expect(again.status).toBe(200);
  }, 30_000);
});

test("an unreadable feed: the signer starts, not ready, payments under the USD ceiling unavailable", async () => {
  const nowhere = chain.accounts[7]!.address; // an account, not a contract
  const s = await start(["-priceFeedAddr", nowhere]);
  try {
    const ready = await rawRequest(`${s.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatch(new RegExp(`^cannot price: price feed ${nowhere} unreadable: `));
    const err = await createClient(SignerService, createConnectTransport({ baseUrl: s.url, httpVersion: "1.1" }))
      .generateLivePayment({ orchestrator: info(3n), manifestId: "m", type: JobType.FIXED })
      .then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.Unavailable);
  } finally {
    await s.close();
  }
}, 30_000);

test("a feed that does not quote ETH in USD fails start-up as a configuration error", async () => {
  const deployer = new Wallet(chain.accounts[0]!.privateKey, chain.provider);
  const feed = artifacts.contracts.DevPriceFeed;
  const btc = await new ContractFactory(feed.abi, feed.bytecode, deployer).deploy(8, "BTC / EUR", 1n);
  await btc.waitForDeployment();
  const err = await start(["-priceFeedAddr", await btc.getAddress()]).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as Error).message).toBe(`-priceFeedAddr ${await btc.getAddress()}: price feed does not have ETH as a currency (BTC/EUR)`);
}, 30_000);
