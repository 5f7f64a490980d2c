/**
 * Issue 6's bar: three fake orchestrators on loopback; GET /discover-orchestrators?caps=… and
 * DiscoverOrchestrators (generated client and `buf curl`) return the same, price-filtered set.
 */
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SignerService } from "../gen/livepeer/signer/v1/signer_pb.js";
import { Capabilities_CapabilityConstraintsSchema } from "../gen/net/lp_rpc_pb.js";
import { startDevChain, type DevChain } from "../src/dev-chain/dev-chain.js";
import { loadConfig, parseFlags } from "../src/config.js";
import { startSigner, type RunningSigner } from "../src/start-signer.js";
import { startFakeOrchestrator, type FakeOrchestrator } from "./discovery/fake-orchestrator.js";

const LV2V = 35;
const CAP = "live-video-to-video/streamdiffusion";
let chain: DevChain;
let signer: RunningSigner;
const fakes: FakeOrchestrator[] = [];

const orchestrator = (address: number, price: bigint) =>
  startFakeOrchestrator({
    info: () => ({
      address: new Uint8Array(20).fill(address),
      priceInfo: { pricePerUnit: price, pixelsPerUnit: 1n },
      capabilities: {
        constraints: {
          PerCapability: { [LV2V]: create(Capabilities_CapabilityConstraintsSchema, { models: { streamdiffusion: {} } }) },
        },
      },
    }),
  });

/** The signer's flags: the dev chain as -ethUrl, the three fakes as -orchAddr. */
const discoveryArgs = () => [
  "-ethUrl", chain.url,
  "-ethController", chain.controllerAddress,
  "-httpAddr", "127.0.0.1:0",
  "-remoteDiscovery",
  "-orchAddr", fakes.map((f) => f.url).join(","),
  "-maxPricePerUnit", "1000",
  // go-livepeer's 500ms default is for real networks; loopback fakes under a loaded test run need longer.
  "-discoveryTimeout", "5s",
];

beforeAll(async () => {
  chain = await startDevChain({ port: 0 });
  fakes.push(await orchestrator(0x0a, 100n), await orchestrator(0x0b, 900n), await orchestrator(0x0c, 5000n));
  process.env.LPSIGNER_UNSAFE_DEV_PRIVATE_KEY = "0x" + "42".repeat(32); // test-only key
  const flags = parseFlags(discoveryArgs())!;
  signer = await startSigner(flags, pino({ level: "silent" }));
  delete process.env.LPSIGNER_UNSAFE_DEV_PRIVATE_KEY;
  await chain.fundSender({ address: signer.address });
  // The first snapshot is built in the background at start.
  for (let i = 0; i < 100; i++) {
    if ((await fetch(`${signer.url}/discover-orchestrators`)).status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
});

afterAll(async () => {
  await signer?.close();
  for (const f of fakes) await f.close();
  await chain?.close();
});

describe("discovery through the running signer", () => {
  test("legacy JSON, the Connect RPC and buf curl agree, filtered by price", async () => {
    const res = await fetch(`${signer.url}/discover-orchestrators?caps=${encodeURIComponent(CAP)}`);
    expect(res.status).toBe(200);
    const legacy = (await res.json()) as { address: string; score: number; capabilities: string[] }[];
    expect(legacy.map((o) => o.address).sort()).toEqual([fakes[0]!.url, fakes[1]!.url].sort());
    for (const o of legacy) {
      expect(o.score).toBe(1);
      expect(o.capabilities).toEqual([CAP]);
    }

    const client = createClient(SignerService, createConnectTransport({ baseUrl: signer.url, httpVersion: "1.1" }));
    const typed = await client.discoverOrchestrators({ caps: [CAP] });
    expect(typed.orchestrators.map((o) => o.url).sort()).toEqual(legacy.map((o) => o.address).sort());
    expect(typed.orchestrators.find((o) => o.url === fakes[1]!.url)?.capabilities[0]?.pricePerUnit).toBe(900n);

    const { stdout } = await promisify(execFile)(
      "node_modules/.bin/buf",
      ["curl", "--schema", "proto", "--protocol", "connect", "-d", JSON.stringify({ caps: [CAP] }), `${signer.url}/livepeer.signer.v1.SignerService/DiscoverOrchestrators`],
      { timeout: 30_000 },
    );
    const viaBuf = JSON.parse(stdout) as { orchestrators: { url: string }[] };
    expect(viaBuf.orchestrators.map((o) => o.url).sort()).toEqual(legacy.map((o) => o.address).sort());

    // WatchOrchestrators starts with the current snapshot.
    const watch = new AbortController();
    for await (const update of client.watchOrchestrators({ caps: [CAP] }, { signal: watch.signal })) {
      expect(update.orchestrators.map((o) => o.url).sort()).toEqual(legacy.map((o) => o.address).sort());
      watch.abort();
      break;
    }

    // A cap nobody offers: an empty list, not an error.
    expect(await (await fetch(`${signer.url}/discover-orchestrators?caps=text-to-image/none`)).text()).toBe("[]\n");
  });

  test("-orchBlocklist (go-livepeer's flag) leaves the listed orchestrator out; -discoveryTimeout and -extraNodes are accepted", async () => {
    const blocked = "0x" + "0A".repeat(20);
    const flags = parseFlags([...discoveryArgs(), "-orchBlocklist", blocked, "-discoveryTimeout", "4s", "-extraNodes", "1"], {})!;
    const other = await startSigner(loadConfig(flags, { LPSIGNER_UNSAFE_DEV_PRIVATE_KEY: "0x" + "43".repeat(32) }), pino({ level: "silent" }));
    try {
      let res = await fetch(`${other.url}/discover-orchestrators?caps=${encodeURIComponent(CAP)}`);
      for (let i = 0; i < 100 && res.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 50));
        res = await fetch(`${other.url}/discover-orchestrators?caps=${encodeURIComponent(CAP)}`);
      }
      expect(res.status).toBe(200);
      const legacy = (await res.json()) as { address: string }[];
      expect(legacy.map((o) => o.address)).toEqual([fakes[1]!.url]);
    } finally {
      await other.close();
    }
  });
});
