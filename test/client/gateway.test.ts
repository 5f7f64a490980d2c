/**
 * The client package against the running signer (dev chain) and the development orchestrator:
 * the example gateway loop pays for several cycles and the orchestrator, verifying every ticket,
 * accepts each payment with a balance that covers its fees; PaymentSession's expected outcomes
 * are values; the orchestrator's certificate is checked before anything is sent.
 */
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import {
  createSignerClient,
  getOrchestratorInfo,
  OrchestratorCertificateError,
  OrchestratorInfoSchema,
  PaymentSession,
  sendPayment,
  type OrchestratorInfo,
  type SignerClient,
} from "lpsigner/client/node";
import { runGateway } from "../../examples/gateway.js";
import { parseFlags } from "../../src/config.js";
import { Contract } from "ethers";
import { LV2V_UNITS_PER_SECOND, startDevOrchestrator, type DevOrchestrator } from "../../src/dev-orchestrator/dev-orchestrator.js";
import { Rat } from "../../src/math/rat.js";
import { startSigner, type RunningSigner } from "../../src/start-signer.js";

let signer: RunningSigner;
let orch: DevOrchestrator;
let client: SignerClient;

beforeAll(async () => {
  signer = await startSigner(parseFlags(["-httpAddr", "127.0.0.1:0", "-chainRefreshInterval", "100ms"])!, pino({ level: "silent" }));
  orch = signer.devOrchestrators[0]!; // started with the dev chain
  client = createSignerClient({ baseUrl: signer.url });
});
afterAll(async () => {
  await signer?.close();
});

describe("the example gateway loop", () => {
  test("pays the dev orchestrator for several cycles; every payment accepted, its balance covers the fees", async () => {
    const before = orch.stats();
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
    try {
      const results = await runGateway({
        signerUrl: signer.url,
        orchestratorUrl: orch.url,
        cycles: 8,
        intervalMs: 0,
        // 25 s of stream time per cycle (the lv2v preload is 60 s), then let the chain view refresh.
        sleep: async () => {
          vi.setSystemTime(Date.now() + 25_000);
          await new Promise((r) => setTimeout(r, 150));
        },
      });
      expect(results).toHaveLength(8);
      const pays = results.filter((r) => r.kind === "pay");
      expect(results[0]!.kind).toBe("pay");
      expect(pays.length).toBeGreaterThanOrEqual(3);
      expect(results.filter((r) => r.kind !== "pay" && r.kind !== "nothing-due")).toEqual([]);
      const after = orch.stats();
      expect(after.accepted - before.accepted).toBe(pays.length);
      expect(after.refused).toBe(before.refused);
      expect(after.tickets - before.tickets).toBe(pays.reduce((n, r) => n + (r.kind === "pay" ? r.numTickets : 0), 0));
      const session = orch.balances().find((b) => b.sender.toLowerCase() === signer.address.toLowerCase());
      expect(session).toBeDefined();
      expect(session!.balance.sign()).toBeGreaterThanOrEqual(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("the development orchestrator verifies as go-livepeer does", () => {
  test("a replayed payment is refused (400), garbage is 402, a foreign segment signature 403", async () => {
    const session = new PaymentSession({ signer: client, orchestrator: await getOrchestratorInfo(orch.url, client), manifestId: "replay" });
    const pay = await session.next();
    expect(pay.kind).toBe("pay");
    if (pay.kind !== "pay") return;
    expect(await sendPayment(orch.url, pay)).toMatchObject({ ok: true });
    expect(await sendPayment(orch.url, pay)).toMatchObject({ ok: false, status: 400, message: expect.stringMatching(/already seen/) });
    expect(await sendPayment(orch.url, { ...pay, paymentHeader: "not base64 protobuf!" })).toMatchObject({ ok: false, status: 402 });
    const other = new PaymentSession({ signer: client, orchestrator: await getOrchestratorInfo(orch.url, client), manifestId: "other" });
    const otherPay = await other.next();
    if (otherPay.kind !== "pay") throw new Error("expected pay");
    const mixed = await sendPayment(orch.url, { paymentHeader: otherPay.paymentHeader, segmentHeader: "AAAA" });
    expect(mixed).toMatchObject({ ok: false, status: 403 });
  });

  test("GetOrchestrator refuses a request whose signature is not the sender's", async () => {
    const { address } = await client.signOrchestratorInfo({});
    const refused = orch.stats().infoRefused;
    await expect(getOrchestratorInfo(orch.url, { address, signature: new Uint8Array(65) })).rejects.toThrow(/invalid signature/);
    expect(orch.stats().infoRefused).toBe(refused + 1);
  });
});

describe("the development orchestrator on the dev chain", () => {
  test("is registered and active, and quotes its price, capabilities and the chain's round in its ticket params", async () => {
    const chain = signer.devChain!;
    const registry = new Contract(chain.contracts.ServiceRegistry, chain.abis.ServiceRegistry, chain.provider);
    const bonding = new Contract(chain.contracts.BondingManager, chain.abis.BondingManager, chain.provider);
    const rounds = new Contract(chain.contracts.RoundsManager, chain.abis.RoundsManager, chain.provider);
    expect(await registry.getFunction("getServiceURI")(orch.address)).toBe(orch.url);
    expect(await bonding.getFunction("isActiveTranscoder")(orch.address)).toBe(true);
    const info = await getOrchestratorInfo(orch.url, client);
    expect(info.transcoder).toBe(orch.url);
    expect(`0x${Buffer.from(info.address).toString("hex")}`).toBe(orch.address.toLowerCase());
    expect(info.priceInfo).toMatchObject({ pricePerUnit: 1n, pixelsPerUnit: 1n });
    expect(Object.keys(info.capabilities!.constraints!.PerCapability[35]!.models)).toEqual(["streamdiffusion"]);
    const round = (await rounds.getFunction("lastInitializedRound")()) as bigint;
    expect(info.ticketParams!.expirationParams!.creationRound).toBe(round);
    expect(`0x${Buffer.from(info.ticketParams!.expirationParams!.creationRoundBlockHash).toString("hex")}`).toBe(
      await rounds.getFunction("blockHashForRound")(round),
    );
  });

  test("fees accrue at its price per second of stream from the first payment", async () => {
    let now = Date.now();
    const priced = await startDevOrchestrator({ chain: signer.devChain!, pricePerUnit: 3n, pixelsPerUnit: 2n, clock: () => now });
    try {
      const session = new PaymentSession({ signer: client, orchestrator: await getOrchestratorInfo(priced.url, client), manifestId: "accrual" });
      const pay = await session.next();
      if (pay.kind !== "pay") throw new Error(`expected pay, got ${pay.kind}`);
      expect(await sendPayment(priced.url, pay)).toMatchObject({ ok: true });
      const [start] = priced.balances();
      now += 10_000;
      const [later] = priced.balances();
      expect(start!.balance.sub(later!.balance).toString()).toBe(new Rat(3n * LV2V_UNITS_PER_SECOND * 10n, 2n).toString());
      expect(start!.manifestId).toBe("accrual");
    } finally {
      await priced.close();
    }
  });

  test("ticket params changed by the gateway are refused (recipientRand no longer matches)", async () => {
    const info = await getOrchestratorInfo(orch.url, client);
    const tampered = create(OrchestratorInfoSchema, {
      ...info,
      ticketParams: { ...info.ticketParams!, expirationBlock: new Uint8Array([...info.ticketParams!.expirationBlock, 0]) },
    });
    const pay = await new PaymentSession({ signer: client, orchestrator: tampered, manifestId: "tampered" }).next();
    if (pay.kind !== "pay") throw new Error(`expected pay, got ${pay.kind}`);
    expect(await sendPayment(orch.url, pay)).toMatchObject({ ok: false, status: 400, message: expect.stringMatching(/recipientRand/) });
  });
});

describe("orchestrator certificates", () => {
  test("a pinned fingerprint matches; a different pin or first-use pin refuses before the request is sent", async () => {
    await expect(getOrchestratorInfo(orch.url, client, { tls: { trust: "pinned", sha256: orch.certificate.sha256 } })).resolves.toBeDefined();
    const calls = orch.stats().infoCalls;
    const wrong = "00".repeat(32);
    await expect(getOrchestratorInfo(orch.url, client, { tls: { trust: "pinned", sha256: wrong } })).rejects.toThrow(/does not match/);
    const pins = new Map([[new URL(orch.url).host, wrong]]);
    await expect(getOrchestratorInfo(orch.url, client, { tls: { trust: "first-use", pins } })).rejects.toThrow(/does not match/);
    const payment = sendPayment(orch.url, { paymentHeader: "", segmentHeader: "" }, { tls: { trust: "pinned", sha256: wrong } });
    await expect(payment).rejects.toBeInstanceOf(OrchestratorCertificateError);
    expect(orch.stats().infoCalls).toBe(calls);
    // Normal verification refuses the self-signed certificate, unless it is the trusted CA.
    await expect(getOrchestratorInfo(orch.url, client, { tls: { trust: "ca" } })).rejects.toThrow();
    await expect(getOrchestratorInfo(orch.url, client, { tls: { trust: "ca", ca: orch.certificate.pem } })).resolves.toBeDefined();
    // First use pins what it sees, then accepts the same certificate.
    const fresh = new Map<string, string>();
    await getOrchestratorInfo(orch.url, client, { tls: { trust: "first-use", pins: fresh } });
    expect(fresh.get(new URL(orch.url).host)?.replaceAll(":", "").toLowerCase()).toBe(orch.certificate.sha256.replaceAll(":", "").toLowerCase());
    await expect(getOrchestratorInfo(orch.url, client, { tls: { trust: "first-use", pins: fresh } })).resolves.toBeDefined();
  });
});

describe("PaymentSession outcomes are values", () => {
  const expired = (info: OrchestratorInfo) => create(OrchestratorInfoSchema, { ...info, authToken: { ...info.authToken!, expiration: 1n } });

  test("refresh needed: the callback's fresh info is used; without one, or past maxRefreshes, a refresh-needed result", async () => {
    const stale = expired(await getOrchestratorInfo(orch.url, client));
    const urls: string[] = [];
    const refreshed = new PaymentSession({
      signer: client,
      orchestrator: stale,
      manifestId: "refresh",
      refreshOrchestratorInfo: async (url) => {
        urls.push(url);
        return getOrchestratorInfo(url, client);
      },
    });
    expect((await refreshed.next()).kind).toBe("pay");
    expect(urls).toEqual([orch.url]);

    const none = new PaymentSession({ signer: client, orchestrator: stale, manifestId: "refresh-2" });
    expect(await none.next()).toMatchObject({ kind: "refresh-needed", orchestratorUrl: orch.url, refreshes: 0 });

    let calls = 0;
    const stuck = new PaymentSession({
      signer: client,
      orchestrator: stale,
      manifestId: "refresh-3",
      maxRefreshes: 2,
      refreshOrchestratorInfo: async () => (calls++, stale),
    });
    expect(await stuck.next()).toMatchObject({ kind: "refresh-needed", refreshes: 2 });
    expect(calls).toBe(2);
  });

  test("price exceeded carries the ceiling; nothing due right after a payment; bad input still throws", async () => {
    const info = await getOrchestratorInfo(orch.url, client);
    const capped = new PaymentSession({
      signer: client,
      orchestrator: info,
      manifestId: "capped",
      maxPrice: { price: "0.5", currency: "wei", unit: "720p-pixel-seconds" },
    });
    expect(await capped.next()).toMatchObject({ kind: "price-exceeded", source: "request maxPrice", price: "1" });

    const s = new PaymentSession({ signer: client, orchestrator: info, manifestId: "due" });
    // A payment leaves credit below one ticket's EV; the next tops it up; then credit covers calls.
    const kinds = [(await s.next()).kind, (await s.next()).kind, (await s.next()).kind];
    expect(kinds[0]).toBe("pay");
    expect(kinds).toContain("nothing-due");
    expect(s.state?.sig.length).toBeGreaterThan(0);

    const bad = new PaymentSession({ signer: client, orchestrator: create(OrchestratorInfoSchema, {}), manifestId: "bad" });
    await expect(bad.next()).rejects.toThrow();
  });

  test("the universal entry's Connect and gRPC-web clients work the same from Node", async () => {
    const universal = await import("lpsigner/client");
    for (const protocol of ["connect", "grpc-web"] as const) {
      const c = universal.createSignerClient({ baseUrl: signer.url, protocol });
      expect((await c.signOrchestratorInfo({})).addressHex).toBe(signer.address);
    }
  });
});
