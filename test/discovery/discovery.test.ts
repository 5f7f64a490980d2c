import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fromHex, toHex } from "../../src/crypto/bytes.js";
import { createEthSigner } from "../../src/crypto/eth-sign.js";
import {
  createChainSource,
  createDiscovery,
  createFixedSource,
  createOrchestratorRequest,
  createWebhookSource,
  type DiscoveryEntry,
  normalizeBlocklist,
  orchestratorUrl,
  parseOrchAddrs,
  pollOrchestrator,
  selectSource,
  toDiscoveredOrchestrator,
  toLegacyDiscoveryJson,
} from "../../src/discovery/index.js";
import { DiscoveryConfigError } from "../../src/discovery/sources.js";
import { createPriceLimits } from "../../src/pricing/price-limits.js";
import { closedPort, type FakeOrchestrator, startFakeOrchestrator } from "./fake-orchestrator.js";

const signer = createEthSigner(fromHex("0x" + "11".repeat(32)));
const otherSigner = createEthSigner(fromHex("0x" + "22".repeat(32)));
const LV2V = 35;
const TEXT_TO_IMAGE = 27;
// Generous for TLS handshakes on a loaded machine; the slow orchestrator (10 s) is still cut.
const TIMEOUT_MS = 3_000;

// Global ceiling 1000 wei/pixel; live-video-to-video/capped is limited to 50.
const prices = createPriceLimits({
  maxPricePerUnit: "1000",
  pixelsPerUnit: "1",
  maxPricePerCapability: JSON.stringify({
    capabilities_prices: [{ pipeline: "live-video-to-video", model_id: "capped", price_per_unit: 50, pixels_per_unit: 1 }],
  }),
});

const addr = (b: number) => new Uint8Array(20).fill(b);
const models = (...ids: string[]) => ({ models: Object.fromEntries(ids.map((id) => [id, { warm: true }])) });
const capPrice = (capability: number, constraint: string, pricePerUnit: bigint, pixelsPerUnit = 1n) => ({
  capability,
  constraint,
  pricePerUnit,
  pixelsPerUnit,
});

const runner = (url: string, app: string, extra: Record<string, unknown> = {}) => ({
  url,
  gpu: { name: "H100" },
  app,
  capacity: 2,
  capacity_used: 1,
  capacity_available: 1,
  price_info: { price: 10, currency: "wei", unit: "seconds" },
  ...extra,
});

let a: FakeOrchestrator; // cheap: two live models + text-to-image
let b: FakeOrchestrator; // global price too high, one model priced in range, runners via /discovery
let c: FakeOrchestrator; // everything too expensive
let d: FakeOrchestrator; // per-capability ceiling rejects one model
let e: FakeOrchestrator; // no ETH address
let slow: FakeOrchestrator;
let downUrl: string;
const EXTRA_NODE = "https://127.0.0.1:9/extra";

beforeAll(async () => {
  a = await startFakeOrchestrator({
    info: () => ({
      address: addr(0xa),
      priceInfo: { pricePerUnit: 100n, pixelsPerUnit: 1n },
      capabilities: {
        constraints: {
          PerCapability: { [LV2V]: models("sd", "noop", ""), [TEXT_TO_IMAGE]: models("sdxl"), 999: models("unknown-cap") },
        },
      },
      capabilitiesPrices: [capPrice(LV2V, "sd", 500n)],
    }),
  });
  b = await startFakeOrchestrator({
    info: () => ({
      address: addr(0xb),
      priceInfo: { pricePerUnit: 2000n, pixelsPerUnit: 1n },
      capabilities: { constraints: { PerCapability: { [LV2V]: models("sd", "expensive") } } },
      capabilitiesPrices: [capPrice(LV2V, "sd", 1800n, 2n), capPrice(TEXT_TO_IMAGE, "expensive", 1n)],
    }),
    discovery: (url) =>
      JSON.stringify([
        {
          address: url + "/",
          runners: [
            runner("https://runner-1", "live-video-to-video/runner-model", { version: "0.1", metadata: "<a&b>" }),
            runner("https://runner-usd", "live-video-to-video/usd", { price_info: { price: 1, currency: "usd", unit: "hour" } }),
            runner("https://runner-1", "live-video-to-video/runner-model", { capacity_used: 2, capacity_available: 0 }),
          ],
        },
        { address: EXTRA_NODE, runners: [runner("https://runner-2", "live-video-to-video/sd", { price_info: { price: "__P__", currency: "wei", unit: "seconds" } })] },
        { address: EXTRA_NODE, runners: [runner("https://runner-3", "live-video-to-video/sd", { price_info: { price: "7", currency: "WEI", unit: "fixed" } })] },
        { address: "", runners: [runner("https://runner-4", "x/y")] },
      ]).replace('"__P__"', "5e2"), // json.Number keeps its literal
  });
  c = await startFakeOrchestrator({
    info: () => ({
      address: addr(0xc),
      priceInfo: { pricePerUnit: 5000n, pixelsPerUnit: 1n },
      capabilities: { constraints: { PerCapability: { [LV2V]: models("sd") } } },
      capabilitiesPrices: [capPrice(LV2V, "sd", 4000n)],
    }),
  });
  d = await startFakeOrchestrator({
    info: () => ({
      address: addr(0xd),
      priceInfo: { pricePerUnit: 60n, pixelsPerUnit: 1n },
      capabilities: { constraints: { PerCapability: { [LV2V]: models("capped", "other") } } },
    }),
  });
  e = await startFakeOrchestrator({
    info: () => ({
      priceInfo: { pricePerUnit: 1n, pixelsPerUnit: 1n },
      capabilities: { constraints: { PerCapability: { [LV2V]: models("sd") } } },
    }),
  });
  slow = await startFakeOrchestrator({
    delayMs: 10_000,
    info: () => ({
      address: addr(0xe),
      priceInfo: { pricePerUnit: 1n, pixelsPerUnit: 1n },
      capabilities: { constraints: { PerCapability: { [LV2V]: models("sd") } } },
    }),
  });
  downUrl = `https://127.0.0.1:${await closedPort()}`;
});

afterAll(async () => {
  await Promise.all([a, b, c, d, e, slow].map((o) => o?.close()));
});

function allUrls() {
  return [a.url, downUrl, b.url, c.url, slow.url, d.url, e.url];
}

describe("createOrchestratorRequest", () => {
  test("address and the signature over keccak256(checksummed address)", () => {
    const req = createOrchestratorRequest(signer);
    expect(toHex(req.address)).toBe(signer.addressHex.slice(2).toLowerCase());
    expect(req.sig).toHaveLength(65);
    expect(req.ignoreCapacityCheck).toBe(true);
  });

  test("an orchestrator refuses a request whose signature is not the address's", async () => {
    const bad = { ...createOrchestratorRequest(signer), sig: createOrchestratorRequest(otherSigner).sig };
    const before = a.refused;
    await expect(pollOrchestrator({ url: orchestratorUrl(a.url)!, request: bad, timeoutMs: TIMEOUT_MS })).rejects.toThrow(/invalid signature/);
    expect(a.refused).toBe(before + 1);
  });
});

describe("polling and the snapshot", () => {
  let entries: DiscoveryEntry[];
  let elapsedMs: number;
  const metrics = { polls: [] as boolean[], known: [] as number[], eligible: [] as number[] };

  beforeAll(async () => {
    const discovery = createDiscovery({
      source: createFixedSource(allUrls()),
      signer,
      prices,
      timeoutMs: TIMEOUT_MS,
      concurrency: 3,
      now: () => 1_700_000_000_000,
      metrics: {
        pollLatency: (_s, ok) => metrics.polls.push(ok),
        known: (n) => metrics.known.push(n),
        eligible: (n) => metrics.eligible.push(n),
      },
    });
    const started = performance.now();
    await discovery.refresh();
    elapsedMs = performance.now() - started;
    entries = discovery.snapshot().orchestrators;
    expect(discovery.snapshot().builtAt).toBe(1_700_000_000_000);
    discovery.close();
  });

  test("the down and the slow orchestrator cost at most the timeout", () => {
    // 7 orchestrators, 3 at a time: the slow one is cut at TIMEOUT_MS, the others answer at once.
    expect(elapsedMs).toBeLessThan(TIMEOUT_MS + 800);
    expect(slow.accepted.length).toBeGreaterThan(0);
  });

  test("each orchestrator saw a correctly signed request", () => {
    for (const o of [a, b, c, d, e, slow]) {
      expect(o.accepted.length).toBeGreaterThan(0);
      expect(o.accepted.at(-1)!.address).toEqual(signer.address);
    }
  });

  test("only price-eligible capabilities are listed; orchestrators with none are dropped", () => {
    expect(entries.map((x) => x.url)).toEqual([a.url, b.url, d.url, EXTRA_NODE]);
    const byUrl = new Map(entries.map((x) => [x.url, x]));
    // A: sd at its per-capability 500 and noop at its global 100 (ceiling 1000); text-to-image too;
    // the empty model and the unnamed capability 999 are skipped.
    expect(byUrl.get(a.url)!.capabilities).toEqual(["live-video-to-video/noop", "live-video-to-video/sd", "text-to-image/sdxl"]);
    expect(byUrl.get(a.url)!.capabilityPrices.map((p) => [p.key, p.pricePerUnit, p.pixelsPerUnit])).toEqual([
      ["live-video-to-video/noop", 100n, 1n],
      ["live-video-to-video/sd", 500n, 1n],
      ["text-to-image/sdxl", 100n, 1n],
    ]);
    // B: global 2000 is over the ceiling, its sd price 1800/2 = 900 is within; runner apps join in.
    expect(byUrl.get(b.url)!.capabilities).toEqual(["live-video-to-video/runner-model", "live-video-to-video/sd"]);
    // D: "capped" has its own ceiling 50 < 60; "other" falls back to the global 1000.
    expect(byUrl.get(d.url)!.capabilities).toEqual(["live-video-to-video/other"]);
    expect(byUrl.get(a.url)!.ethAddress).toEqual(addr(0xa));
  });

  test("runners are read from /discovery, filtered, and merged by URL (first wins)", () => {
    const bEntry = entries.find((x) => x.url === b.url)!;
    expect(b.discoveryCalls).toBeGreaterThan(0);
    expect(bEntry.runners.map((r) => [r.url, r.capacityUsed])).toEqual([["https://runner-1", 1n]]);
    const extra = entries.find((x) => x.url === EXTRA_NODE)!;
    expect(extra.capabilities).toEqual(["live-video-to-video/sd"]);
    expect(extra.runners.map((r) => [r.url, r.priceInfo?.price])).toEqual([
      ["https://runner-2", "5e2"],
      ["https://runner-3", "7"],
    ]);
    expect(extra.ethAddress).toHaveLength(0);
  });

  test("metrics see every poll, the known and the eligible count", () => {
    // a, b, c, d answered; down, slow (timeout) and e (no ETH address) failed.
    expect(metrics.polls.filter((ok) => ok)).toHaveLength(4);
    expect(metrics.polls.filter((ok) => !ok)).toHaveLength(3);
    expect(metrics.known).toEqual([7]);
    expect(metrics.eligible).toEqual([4]);
  });

  test("legacy JSON has the reference's bytes (and go-livepeer #4090's last_seen where /discovery named the entry)", () => {
    const json = toLegacyDiscoveryJson(entries);
    expect(json.endsWith("]\n")).toBe(true);
    const parsed = JSON.parse(json) as Record<string, unknown>[];
    expect(parsed.map((o) => Object.keys(o))).toEqual([
      ["address", "score", "capabilities"],
      ["address", "score", "capabilities", "runners", "last_seen"],
      ["address", "score", "capabilities"],
      ["address", "score", "capabilities", "runners", "last_seen"],
    ]);
    const bJson = json.split("\n")[0]!.slice(1, -1);
    expect(bJson).toContain(
      `{"address":"${b.url}","score":1,"capabilities":["live-video-to-video/runner-model","live-video-to-video/sd"],` +
        `"runners":[{"url":"https://runner-1","gpu":{"name":"H100"},"app":"live-video-to-video/runner-model","version":"0.1",` +
        `"metadata":"\\u003ca\\u0026b\\u003e","capacity":2,"capacity_used":1,"capacity_available":1,` +
        `"price_info":{"price":10,"currency":"wei","unit":"seconds"}}],"last_seen":"2023-11-14T22:13:20Z"}`,
    );
    expect(json).toContain(`"price_info":{"price":5e2,"currency":"wei","unit":"seconds"}`);
    expect(json).toContain(`{"address":"${a.url}","score":1,"capabilities":["live-video-to-video/noop","live-video-to-video/sd","text-to-image/sdxl"]}`);
  });

  test("typed DiscoveredOrchestrator", () => {
    const msg = toDiscoveredOrchestrator(entries.find((x) => x.url === b.url)!);
    expect(msg.url).toBe(b.url);
    expect(msg.ethAddress).toEqual(addr(0xb));
    expect(msg.capabilities.map((c) => [c.key, c.pipeline, c.modelId, c.pricePerUnit, c.pixelsPerUnit])).toEqual([
      ["live-video-to-video/runner-model", "live-video-to-video", "runner-model", 0n, 0n],
      ["live-video-to-video/sd", "live-video-to-video", "sd", 1800n, 2n],
    ]);
    expect(msg.runners[0]).toMatchObject({ url: "https://runner-1", capacity: 2, price_info: { price: 10, currency: "wei" } });
    expect(msg.priceInfo?.pricePerUnit).toBe(2000n);
    expect(Number(msg.lastSeen!.seconds)).toBe(1_700_000_000);
  });
});

describe("select and subscribe", () => {
  test("caps union deduplicated by URL; all when no caps", async () => {
    const discovery = createDiscovery({ source: createFixedSource([a.url, b.url, d.url]), signer, prices, timeoutMs: TIMEOUT_MS });
    await discovery.refresh();
    const urls = (caps: string[]) => discovery.select(caps).map((x) => x.url);
    expect(urls([])).toEqual([a.url, b.url, d.url, EXTRA_NODE]);
    expect(urls(["live-video-to-video/sd"])).toEqual([a.url, b.url, EXTRA_NODE]);
    expect(urls(["live-video-to-video/other", "live-video-to-video/sd", "live-video-to-video/noop"])).toEqual([d.url, a.url, b.url, EXTRA_NODE]);
    expect(urls(["live-video-to-video/none"])).toEqual([]);
    expect(urls(["", "text-to-image/sdxl"])).toEqual([a.url]);
    discovery.close();
  });

  test("listeners hear about changed snapshots only", async () => {
    const fake = await startFakeOrchestrator({
      info: () => ({ address: addr(1), priceInfo: { pricePerUnit: 1n, pixelsPerUnit: 1n }, capabilities: { constraints: { PerCapability: { [LV2V]: models("m1") } } } }),
    });
    const discovery = createDiscovery({ source: createFixedSource([fake.url]), signer, prices, timeoutMs: TIMEOUT_MS });
    const seen: string[][] = [];
    const unsubscribe = discovery.subscribe((s) => seen.push(s.orchestrators.flatMap((x) => x.capabilities)));
    await discovery.refresh();
    await discovery.refresh();
    expect(seen).toEqual([["live-video-to-video/m1"]]);
    fake.setInfo(() => ({ address: addr(1), priceInfo: { pricePerUnit: 1n, pixelsPerUnit: 1n }, capabilities: { constraints: { PerCapability: { [LV2V]: models("m2") } } } }));
    await discovery.refresh();
    expect(seen).toEqual([["live-video-to-video/m1"], ["live-video-to-video/m2"]]);
    unsubscribe();
    fake.setInfo(() => ({ address: addr(1), priceInfo: { pricePerUnit: 5000n, pixelsPerUnit: 1n }, capabilities: { constraints: { PerCapability: { [LV2V]: models("m2") } } } }));
    await discovery.refresh();
    expect(seen).toHaveLength(2);
    expect(discovery.snapshot().orchestrators).toEqual([]);
    discovery.close();
    await fake.close();
  });

  test("start() builds in the background and concurrent refreshes share one round", async () => {
    const discovery = createDiscovery({ source: createFixedSource([a.url]), signer, prices, timeoutMs: TIMEOUT_MS, intervalMs: 60_000 });
    const before = a.accepted.length;
    discovery.start();
    expect(discovery.snapshot().orchestrators).toEqual([]);
    await Promise.all([discovery.refresh(), discovery.refresh()]);
    expect(discovery.snapshot().orchestrators.map((x) => x.url)).toEqual([a.url]);
    expect(a.accepted.length).toBe(before + 1);
    discovery.close();
  });
});

describe("sources", () => {
  test("-orchAddr parsing follows the reference (default host, port and scheme)", () => {
    expect(parseOrchAddrs("")).toEqual([]);
    expect(parseOrchAddrs("127.0.0.1:8936, orch.example.com ,:7000,http://plain:1,https://secure:2/path,")).toEqual([
      "https://127.0.0.1:8936",
      "https://orch.example.com:8935",
      "https://127.0.0.1:7000",
      "http://plain:1",
      "https://secure:2/path",
      "https://127.0.0.1:8935",
    ]);
  });

  test("-orchAddr without a scheme is polled over TLS", async () => {
    const discovery = createDiscovery({ source: createFixedSource(parseOrchAddrs(a.url.replace("https://", ""))), signer, prices, timeoutMs: TIMEOUT_MS });
    await discovery.refresh();
    expect(discovery.snapshot().orchestrators.map((x) => x.url)).toEqual([a.url]);
    discovery.close();
  });

  test("webhook: the reference's reply format, and the last list when it fails", async () => {
    let reply = "";
    let status = 200;
    const server = http.createServer((req, res) => {
      expect(req.method).toBe("GET");
      res.writeHead(status, { "content-type": "application/json" });
      res.end(reply);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const webhookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/orchs`;
    try {
      const source = createWebhookSource({ url: webhookUrl });
      reply = JSON.stringify([
        { address: a.url, score: 0.5 },
        { address: "" },
        { address: "1.2.3.4:8935" },
        { address: d.url.replace("https://", "localhost-"), score: 1 },
        { address: d.url },
      ]);
      const first = await source.list();
      expect(first).toEqual([a.url, d.url.replace("https://", "localhost-"), d.url]);
      status = 500;
      expect(await source.list()).toEqual(first);
      status = 200;
      reply = `[{"address":"${a.url}","score":"high"}]`;
      expect(await source.list()).toEqual(first);
      await expect(createWebhookSource({ url: webhookUrl }).list()).rejects.toThrow();

      reply = JSON.stringify([{ address: a.url, score: 1 }, { address: b.url, score: 1 }]);
      const discovery = createDiscovery({ source: selectSource({ webhookUrl, orchAddr: d.url })!, signer, prices, timeoutMs: TIMEOUT_MS });
      await discovery.refresh();
      expect(discovery.snapshot().orchestrators.map((x) => x.url)).toEqual([a.url, b.url, EXTRA_NODE]);
      discovery.close();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("on-chain: registered orchestrators' service URIs", async () => {
    const chain = {
      registeredOrchestrators: async () => [
        { address: "0x" + "0a".repeat(20), serviceUri: a.url.replace("https://", "") },
        { address: "0x" + "0d".repeat(20), serviceUri: d.url },
        { address: "0x" + "0c".repeat(20), serviceUri: "" },
      ],
    };
    expect(await createChainSource(chain).list()).toEqual([a.url.replace("https://", ""), d.url]);
    expect(selectSource({ orchAddr: "", chain })!.kind).toBe("chain");
    expect(selectSource({ orchAddr: d.url, chain })!.kind).toBe("orchAddr");
    expect(selectSource({})).toBeUndefined();
    const discovery = createDiscovery({ source: selectSource({ chain })!, signer, prices, timeoutMs: TIMEOUT_MS });
    await discovery.refresh();
    expect(discovery.snapshot().orchestrators.map((x) => x.url)).toEqual([a.url, d.url]);
    discovery.close();
  });

  test("-extraNodes: advertised nodes are polled one level deep", async () => {
    const hub = await startFakeOrchestrator({
      info: () => ({ address: addr(2), priceInfo: { pricePerUnit: 1n, pixelsPerUnit: 1n }, nodes: [d.url.replace("https://", ""), a.url] }),
    });
    try {
      const without = createDiscovery({ source: createFixedSource([hub.url]), signer, prices, timeoutMs: TIMEOUT_MS });
      await without.refresh();
      expect(without.snapshot().orchestrators).toEqual([]);
      const one = createDiscovery({ source: createFixedSource([hub.url]), signer, prices, timeoutMs: TIMEOUT_MS, extraNodes: 1 });
      await one.refresh();
      expect(one.snapshot().orchestrators.map((x) => x.url)).toEqual([d.url]);
      without.close();
      one.close();
    } finally {
      await hub.close();
    }
  });

  test("a failing source keeps the last snapshot", async () => {
    let fail = false;
    const source = { kind: "test", list: async () => (fail ? Promise.reject(new Error("down")) : [a.url]) };
    const discovery = createDiscovery({ source, signer, prices, timeoutMs: TIMEOUT_MS });
    await discovery.refresh();
    fail = true;
    await discovery.refresh();
    expect(discovery.snapshot().orchestrators.map((x) => x.url)).toEqual([a.url]);
    discovery.close();
  });
});

describe("-orchBlocklist", () => {
  const urls = (d: { snapshot(): { orchestrators: DiscoveryEntry[] } }) => d.snapshot().orchestrators.map((x) => x.url);

  test("compares OrchestratorInfo.address, any case, with or without 0x", async () => {
    // A's address is 0x0a0a…; B's is 0x0b0b… and its /discovery lists EXTRA_NODE.
    const blocklist = ["0x" + "0A".repeat(20), " ", "0b".repeat(20)];
    const discovery = createDiscovery({ source: createFixedSource([a.url, b.url, d.url]), signer, prices, timeoutMs: TIMEOUT_MS, blocklist });
    await discovery.refresh();
    // B's runners (and the node only its /discovery reply named) go with it.
    expect(urls(discovery)).toEqual([d.url]);
    discovery.close();
    const open = createDiscovery({ source: createFixedSource([a.url, b.url, d.url]), signer, prices, timeoutMs: TIMEOUT_MS, blocklist: [] });
    await open.refresh();
    expect(urls(open)).toEqual([a.url, b.url, d.url, EXTRA_NODE]);
    open.close();
  });

  test("a listed URL or another address blocks nothing; bad entries are refused", async () => {
    expect(() => normalizeBlocklist([a.url])).toThrow(DiscoveryConfigError);
    expect(() => normalizeBlocklist(["0x1234"])).toThrow(/-orchBlocklist: "0x1234" is not a 20-byte hex Ethereum address/);
    expect(() => createDiscovery({ source: createFixedSource([]), signer, prices, blocklist: ["0x" + "zz".repeat(20)] })).toThrow(DiscoveryConfigError);
    const discovery = createDiscovery({ source: createFixedSource([a.url]), signer, prices, timeoutMs: TIMEOUT_MS, blocklist: ["0x" + "0a".repeat(19) + "0b"] });
    await discovery.refresh();
    expect(urls(discovery)).toEqual([a.url]);
    discovery.close();
  });

  test("a blocklisted orchestrator's advertised nodes are still followed (-extraNodes)", async () => {
    const hub = await startFakeOrchestrator({
      info: () => ({
        address: addr(2),
        priceInfo: { pricePerUnit: 1n, pixelsPerUnit: 1n },
        capabilities: { constraints: { PerCapability: { [LV2V]: models("sd") } } },
        nodes: [d.url],
      }),
    });
    try {
      const discovery = createDiscovery({
        source: createFixedSource([hub.url]),
        signer,
        prices,
        timeoutMs: TIMEOUT_MS,
        extraNodes: 1,
        blocklist: ["0x" + "02".repeat(20)],
      });
      await discovery.refresh();
      expect(urls(discovery)).toEqual([d.url]);
      discovery.close();
    } finally {
      await hub.close();
    }
  });
});

test("timeoutMs bounds each poll: a 300 ms orchestrator is in with 5 s and out with 100 ms", async () => {
  const lagging = await startFakeOrchestrator({
    delayMs: 300,
    info: () => ({
      address: addr(0x33),
      priceInfo: { pricePerUnit: 1n, pixelsPerUnit: 1n },
      capabilities: { constraints: { PerCapability: { [LV2V]: models("sd") } } },
    }),
  });
  try {
    const patient = createDiscovery({ source: createFixedSource([lagging.url]), signer, prices, timeoutMs: 5_000 });
    await patient.refresh();
    expect(patient.snapshot().orchestrators.map((x) => x.url)).toEqual([lagging.url]);
    patient.close();
    const hasty = createDiscovery({ source: createFixedSource([lagging.url]), signer, prices, timeoutMs: 100 });
    await hasty.refresh();
    expect(hasty.snapshot().orchestrators).toEqual([]);
    hasty.close();
  } finally {
    await lagging.close();
  }
});

test("/discovery fails while GetOrchestrator answers: the last runners are kept, last_seen says how old (#4087/#4089/#4090)", async () => {
  let reply: string | number = 0;
  let hasAddress = true;
  const flaky = await startFakeOrchestrator({
    info: () => ({
      ...(hasAddress ? { address: addr(0x44) } : {}),
      priceInfo: { pricePerUnit: 1n, pixelsPerUnit: 1n },
      capabilities: { constraints: { PerCapability: { [LV2V]: models("sd") } } },
    }),
    discovery: () => reply,
  });
  const okReply = JSON.stringify([{ address: flaky.url, runners: [runner("https://runner-k", "live-video-to-video/kept")] }]);
  let listed = [flaky.url];
  let t = 0;
  const discovery = createDiscovery({ source: { kind: "test", list: async () => listed }, signer, prices, timeoutMs: TIMEOUT_MS, now: () => t });
  const round = async (at: number, body: string | number) => {
    t = at;
    reply = body;
    await discovery.refresh();
    return discovery.snapshot().orchestrators;
  };
  const runnerUrls = (entries: DiscoveryEntry[]) => entries.flatMap((x) => x.runners.map((r) => r.url));
  const legacy = (entries: DiscoveryEntry[]) => JSON.parse(toLegacyDiscoveryJson(entries)) as Record<string, unknown>[];
  try {
    const first = await round(1_700_000_000_250, okReply);
    expect(runnerUrls(first)).toEqual(["https://runner-k"]);
    expect(toLegacyDiscoveryJson(first)).toContain(`"capacity_available":1,"price_info":{"price":10,"currency":"wei","unit":"seconds"}}],"last_seen":"2023-11-14T22:13:20.25Z"}`);

    for (const failure of [500, "not json", '{"address":1}']) {
      const kept = await round(1_700_000_060_000, failure);
      expect(runnerUrls(kept)).toEqual(["https://runner-k"]);
      expect(kept[0]!.capabilities).toEqual(["live-video-to-video/kept", "live-video-to-video/sd"]);
      expect(legacy(kept)[0]!["last_seen"]).toBe("2023-11-14T22:13:20.25Z");
      const typed = toDiscoveredOrchestrator(kept[0]!);
      expect(Number(typed.lastSeen!.seconds)).toBe(1_700_000_060);
      expect(Number(typed.runnersLastSeen!.seconds)).toBe(1_700_000_000);
      expect(typed.runnersLastSeen!.nanos).toBe(250_000_000);
    }

    // GetOrchestrator failing drops the orchestrator, kept runners or not; they return with it.
    hasAddress = false;
    expect(await round(1_700_000_120_000, 500)).toEqual([]);
    hasAddress = true;
    expect(runnerUrls(await round(1_700_000_180_000, 500))).toEqual(["https://runner-k"]);

    // A successful reply replaces them, even an empty one: then there is no last_seen.
    const emptied = await round(1_700_000_240_000, "[]");
    expect(emptied.map((x) => [x.url, x.runners.length, x.runnersSeen])).toEqual([[flaky.url, 0, undefined]]);
    expect(Object.keys(legacy(emptied)[0]!)).toEqual(["address", "score", "capabilities"]);
    expect(toDiscoveredOrchestrator(emptied[0]!).runnersLastSeen).toBeUndefined();

    // An orchestrator the source stops listing is forgotten.
    await round(1_700_000_300_000, okReply);
    listed = [];
    expect(await round(1_700_000_360_000, okReply)).toEqual([]);
    listed = [flaky.url];
    const relisted = await round(1_700_000_420_000, 500);
    expect(relisted.map((x) => [x.url, x.runners.length, x.runnersSeen])).toEqual([[flaky.url, 0, undefined]]);
  } finally {
    discovery.close();
    await flaky.close();
  }
});
