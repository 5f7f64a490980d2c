/**
 * BYOC as go-livepeer's branch feat/byoc-per-cap-pricing-and-usage-labels (ae1a0ea7a) serves it:
 * job signatures byte-equal to golden values, the branch orchestrator's check (in the dev
 * orchestrator) accepting ours and refusing tampered ones, the branch's errors for bad requests
 * with nothing signed, per-capability pricing, -byoc=false, and payments for a BYOC capability
 * that the development orchestrator verifies, on a real dev chain.
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { request as httpsRequest } from "node:https";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { JobType, SignerService } from "../gen/livepeer/signer/v1/signer_pb.js";
import { CapabilitiesSchema, PaymentSchema, PriceInfoSchema, type OrchestratorInfo } from "../gen/net/lp_rpc_pb.js";
import { flattenByocJob } from "../src/byoc/job.js";
import { resolveByocPrice, resolveUsageLabels } from "../src/byoc/pricing.js";
import { getOrchestratorInfo } from "../src/client/get-orchestrator-info.js";
import { parseFlags } from "../src/config.js";
import { fromHex, toHex } from "../src/crypto/bytes.js";
import { createEthSigner } from "../src/crypto/eth-sign.js";
import { JOB_ERRORS, verifyJobCreds } from "../src/dev-orchestrator/byoc-jobs.js";
import { MAX_WIN_PROB } from "../src/pm/ticket.js";
import { startSigner, type RunningSigner } from "../src/start-signer.js";
import { BYOC_JOB_VECTORS, BYOC_SENDER, PER_CAP_PRICING, RESOLVE_BYOC_PRICE, USAGE_LABELS } from "./fixtures/byoc-vectors.js";
import { TEST_PRIVATE_KEY } from "./fixtures/spec-vectors.js";
import { orchestratorInfo, orchestratorInfoBytes } from "./support/fixtures.js";
import { rawRequest, startTestServer, type RunningTestServer } from "./support/net-server.js";

const BYOC = { enabled: true, perCapPricing: true };

/** The spec's test key, counting signatures (so "nothing signed" can be checked). */
function specSigner() {
  const inner = createEthSigner(fromHex(TEST_PRIVATE_KEY));
  let count = 0;
  return Object.assign(Object.create(inner) as typeof inner, {
    sign(m: Uint8Array) {
      count++;
      return inner.sign(m);
    },
    signCount: () => count,
  });
}

const postJson = (url: string, body: string, headers: Record<string, string> = {}) =>
  rawRequest(url, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body });

/** The job header a gateway (the SDK) sends: base64 of the job's JSON with sender and sig. */
const jobHeader = (job: Record<string, unknown>) => Buffer.from(JSON.stringify(job)).toString("base64");

describe("POST /sign-byoc-job and SignByocJob", () => {
  let server: RunningTestServer;
  let signer: ReturnType<typeof specSigner>;
  beforeAll(async () => {
    signer = specSigner();
    server = await startTestServer({ overrides: { signer, byoc: BYOC } });
  });
  afterAll(() => server?.close());

  test("the V1 layout and the signatures are byte-equal to the golden values, on both transports", async () => {
    const client = createClient(SignerService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
    for (const v of BYOC_JOB_VECTORS) {
      const job = { id: v.id, capability: v.capability, request: v.request, parameters: v.parameters, timeoutSeconds: BigInt(v.timeout_seconds) };
      expect(toHex(flattenByocJob(job))).toBe(v.payload);
      const res = await postJson(`${server.url}/sign-byoc-job`, JSON.stringify({ id: v.id, capability: v.capability, request: v.request, parameters: v.parameters, timeout_seconds: v.timeout_seconds }));
      expect(res.status).toBe(200);
      expect(res.headers["content-type"]).toBe("application/json");
      expect(res.body).toBe(`{"sender":"${BYOC_SENDER}","signature":"${v.signature}"}\n`);
      const typed = await client.signByocJob(job);
      expect(typed.senderHex).toBe(BYOC_SENDER);
      expect(toHex(typed.sender)).toBe(BYOC_SENDER.slice(2).toLowerCase());
      expect("0x" + toHex(typed.signature)).toBe(v.signature);
    }
  });

  test("the branch orchestrator's check accepts our signature and refuses a tampered job", async () => {
    const v = BYOC_JOB_VECTORS[1]!;
    const res = await postJson(`${server.url}/sign-byoc-job`, JSON.stringify({ id: v.id, capability: v.capability, request: v.request, parameters: v.parameters, timeout_seconds: v.timeout_seconds }));
    const { sender, signature } = JSON.parse(res.body) as { sender: string; signature: string };
    const job = { id: v.id, request: v.request, parameters: v.parameters, capability: v.capability, sender, sig: signature, timeout_seconds: v.timeout_seconds };
    const ok = verifyJobCreds(jobHeader(job));
    expect(ok.ok && ok.job.id).toBe(v.id);
    // Without 0x (130 hex characters) the signature is taken as it is.
    expect(verifyJobCreds(jobHeader({ ...job, sig: signature.slice(2) })).ok).toBe(true);
    for (const tampered of [
      { ...job, request: v.request + " " },
      { ...job, parameters: "" },
      { ...job, capability: "nano-banana" },
      { ...job, id: "job-3" },
      { ...job, timeout_seconds: v.timeout_seconds + 1 },
      { ...job, sender: "0x" + "11".repeat(20) },
      { ...job, sig: signature.slice(0, -4) + (signature.endsWith("1b") ? "001c" : "001b") },
      { ...job, sig: "0x" + "zz".repeat(65) },
    ]) {
      expect(verifyJobCreds(jobHeader(tampered))).toEqual({ ok: false, error: JOB_ERRORS.segSig });
    }
    expect(verifyJobCreds(jobHeader({ ...job, timeout_seconds: 0 }))).toEqual({ ok: false, error: JOB_ERRORS.noTimeout });
    expect(verifyJobCreds("not base64!")).toEqual({ ok: false, error: JOB_ERRORS.segEncoding });
  });

  test("bad requests get the branch's errors (400, its envelope) and nothing is signed", async () => {
    const client = createClient(SignerService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
    const good = { id: "j", capability: "c", request: "{}", parameters: "", timeout_seconds: 30 };
    const before = signer.signCount();
    const cases: [unknown, string][] = [
      [{ ...good, id: "" }, "sign-byoc-job requires non-empty id and capability"],
      [{ ...good, capability: "" }, "sign-byoc-job requires non-empty id and capability"],
      [{ ...good, id: "", timeout_seconds: 0 }, "sign-byoc-job requires non-empty id and capability"],
      [{ ...good, timeout_seconds: 0 }, "sign-byoc-job requires positive timeout_seconds"],
      [{ ...good, timeout_seconds: -5 }, "sign-byoc-job requires positive timeout_seconds"],
      [{ id: "j", capability: "c" }, "sign-byoc-job requires positive timeout_seconds"],
      [{ ...good, timeout_seconds: "30" }, "json: cannot unmarshal string into Go struct field SignBYOCJobRequestInput.timeout_seconds of type int"],
      [{ ...good, timeout_seconds: 1.5 }, "json: cannot unmarshal number 1.5 into Go struct field SignBYOCJobRequestInput.timeout_seconds of type int"],
      // lpsigner's bounds (the branch has none): ids as long as a payment's, a timeout that fits 32 bits.
      [{ ...good, id: "i".repeat(257) }, "id: longer than 256 characters"],
      [{ ...good, capability: "c".repeat(257) }, "capability: longer than 256 characters"],
      [{ ...good, timeout_seconds: 4294967296 }, "timeout_seconds: at most 4294967295"],
      [{ ...good, request: "r".repeat(1 << 20) }, "request body larger than 1048576 bytes"],
    ];
    for (const [body, message] of cases) {
      const res = await postJson(`${server.url}/sign-byoc-job`, JSON.stringify(body));
      expect([res.status, res.body]).toEqual([400, `{"error":{"message":${JSON.stringify(message)}}}\n`]);
    }
    expect((await postJson(`${server.url}/sign-byoc-job`, "")).body).toBe('{"error":{"message":"EOF"}}\n');
    for (const [job, message] of [
      [{ ...good, id: "", timeoutSeconds: 30n }, "sign-byoc-job requires non-empty id and capability"],
      [{ ...good, timeoutSeconds: 0n }, "sign-byoc-job requires positive timeout_seconds"],
      [{ ...good, timeoutSeconds: 1n << 32n }, "timeout_seconds: at most 4294967295"],
    ] as const) {
      const err = await client.signByocJob(job).catch((e: unknown) => ConnectError.from(e));
      expect(err).toBeInstanceOf(ConnectError);
      expect([(err as ConnectError).code, (err as ConnectError).rawMessage]).toEqual([Code.InvalidArgument, message]);
    }
    expect(signer.signCount()).toBe(before);
    const get = await rawRequest(`${server.url}/sign-byoc-job`);
    expect([get.status, get.headers.allow]).toEqual([405, "POST"]);
  });

  test("goes through the legacy POST paths: a cross-site POST is refused unread", async () => {
    const res = await postJson(`${server.url}/sign-byoc-job`, JSON.stringify({ id: "j", capability: "c", timeout_seconds: 1 }), {
      "Sec-Fetch-Site": "cross-site",
      Origin: "https://evil.example",
    });
    expect(res.status).toBe(403);
  });
});

describe("-byoc=false: master's surface", () => {
  let server: RunningTestServer;
  beforeAll(async () => {
    server = await startTestServer({ overrides: { byoc: { enabled: false, perCapPricing: false } } });
  });
  afterAll(() => server?.close());

  test("no /sign-byoc-job (404), SignByocJob UNIMPLEMENTED, type byoc is an invalid job type", async () => {
    const res = await postJson(`${server.url}/sign-byoc-job`, JSON.stringify({ id: "j", capability: "c", timeout_seconds: 1 }));
    expect([res.status, res.body]).toEqual([404, "404 page not found\n"]);
    expect((await rawRequest(`${server.url}/sign-byoc-job`)).status).toBe(404);
    const client = createClient(SignerService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
    const err = ConnectError.from(await client.signByocJob({ id: "j", capability: "c", timeoutSeconds: 1n }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.Unimplemented);
    const info = orchestratorInfo();
    const pay = await postJson(
      `${server.url}/generate-live-payment`,
      JSON.stringify({ orchestrator: Buffer.from(orchestratorInfoBytes(info)).toString("base64"), type: "byoc", capability: "x" }),
    );
    expect([pay.status, pay.body]).toEqual([400, '{"error":{"message":"invalid job type"}}\n']);
    const typed = ConnectError.from(await client.generateLivePayment({ orchestrator: info, type: JobType.BYOC, manifestId: "m" }).catch((e: unknown) => e));
    expect([typed.code, typed.rawMessage]).toEqual([Code.InvalidArgument, "invalid job type"]);
  });
});

describe("type byoc pricing, as the branch prices it", () => {
  test("resolveByocPrice and the usage labels give the branch's test values", () => {
    const info = orchestratorInfo();
    info.capabilitiesPrices = RESOLVE_BYOC_PRICE.entries.map(([capability, constraint, pricePerUnit, pixelsPerUnit]) =>
      create(PriceInfoSchema, { capability, constraint, pricePerUnit, pixelsPerUnit }),
    );
    for (const [name, want] of RESOLVE_BYOC_PRICE.cases) {
      const got = resolveByocPrice(name, info);
      expect(got && [got.pricePerUnit, got.pixelsPerUnit, got.capability, got.constraint], name).toEqual(want === undefined ? undefined : [want, 1n, 0, ""]);
    }
    for (const c of USAGE_LABELS) {
      const caps = c.caps && create(CapabilitiesSchema, { constraints: { PerCapability: { [c.caps[0]]: { models: { [c.caps[1]]: { warm: true } } } } } });
      expect(resolveUsageLabels({ type: c.type, capability: c.capability, modelId: c.modelId, caps })).toEqual({ pipeline: c.pipeline, modelId: c.model });
    }
  });

  const { basePPU, capNanoPPU, capRecraftPPU, preloadSecs, lv2vPixels } = PER_CAP_PRICING;
  const pricedInfo = (): OrchestratorInfo => {
    // One ~1e12-EV ticket covers every fee below, so the fee is read from the call.
    const info = orchestratorInfo({ pricePerUnit: basePPU, faceValue: 1_000_000_000_000n, winProb: MAX_WIN_PROB - 1n });
    info.capabilitiesPrices = [
      create(PriceInfoSchema, { capability: 37, constraint: "nano-banana", pricePerUnit: capNanoPPU, pixelsPerUnit: 1n }),
      create(PriceInfoSchema, { capability: 37, constraint: "recraft-v4", pricePerUnit: capRecraftPPU, pixelsPerUnit: 1n }),
    ];
    return info;
  };
  const byocCaps = (model: string) => create(CapabilitiesSchema, { constraints: { PerCapability: { 37: { models: { [model]: { warm: true } } } } } });
  const initialPrice = (state: Uint8Array) => (JSON.parse(Buffer.from(state).toString("utf8")) as { InitialPricePerUnit: number }).InitialPricePerUnit;

  test.each([
    ["per-capability pricing on", true],
    ["per-capability pricing off", false],
  ])("fees and locked prices (%s), on Connect and the legacy endpoint", async (_name, perCapPricing) => {
    const server = await startTestServer({ overrides: { byoc: { enabled: true, perCapPricing } } });
    try {
      const client = createClient(SignerService, createGrpcTransport({ baseUrl: server.url }));
      const info = pricedInfo();
      const pay = async (init: { type: JobType; capability?: string; caps?: string }) => {
        const r = await client.generateLivePayment({
          orchestrator: info,
          manifestId: "m",
          type: init.type,
          capability: init.capability ?? "",
          ...(init.caps ? { capabilities: byocCaps(init.caps) } : {}),
        });
        return { fee: r.fee, units: r.billableUnits, price: initialPrice(r.state!.state) };
      };
      const lv2vBase = { fee: (basePPU * lv2vPixels).toString(), units: lv2vPixels, price: Number(basePPU) };
      const perSecond = (ppu: bigint) => ({ fee: (ppu * preloadSecs).toString(), units: preloadSecs, price: Number(ppu) });
      expect(await pay({ type: JobType.LV2V, capability: "nano-banana" })).toEqual(perCapPricing ? perSecond(capNanoPPU) : lv2vBase);
      expect(await pay({ type: JobType.LV2V, capability: "recraft-v4" })).toEqual(perCapPricing ? perSecond(capRecraftPPU) : lv2vBase);
      expect(await pay({ type: JobType.LV2V, capability: "totally-unknown-cap" })).toEqual(lv2vBase);
      expect(await pay({ type: JobType.LV2V })).toEqual(lv2vBase);
      // type byoc bills compute-seconds whatever the price: per capability, or the base one.
      expect(await pay({ type: JobType.BYOC, caps: "nano-banana" })).toEqual(perCapPricing ? perSecond(capNanoPPU) : perSecond(basePPU));
      expect(await pay({ type: JobType.BYOC, capability: "recraft-v4" })).toEqual(perCapPricing ? perSecond(capRecraftPPU) : perSecond(basePPU));
      expect(await pay({ type: JobType.BYOC })).toEqual(perSecond(basePPU));
      // The per-capability price is the expected price in the tickets.
      const legacy = await postJson(
        `${server.url}/generate-live-payment`,
        JSON.stringify({ orchestrator: Buffer.from(orchestratorInfoBytes(info)).toString("base64"), type: "byoc", capability: "nano-banana", ManifestID: "m" }),
      );
      expect(legacy.status).toBe(200);
      const payment = fromBinary(PaymentSchema, Buffer.from((JSON.parse(legacy.body) as { payment: string }).payment, "base64"));
      expect(payment.expectedPrice?.pricePerUnit).toBe(perCapPricing ? capNanoPPU : basePPU);
      // Master's maxPrice rule knows no byoc unit.
      const max = await postJson(
        `${server.url}/generate-live-payment`,
        JSON.stringify({ orchestrator: Buffer.from(orchestratorInfoBytes(info)).toString("base64"), type: "byoc", maxPrice: { price: "1", currency: "wei", unit: "seconds" } }),
      );
      expect([max.status, max.body]).toEqual([400, '{"error":{"message":"maxPrice requires payment type live, lv2v, or fixed"}}\n']);
    } finally {
      await server.close();
    }
  });
});

/** POST over HTTPS to the dev orchestrator (self-signed certificate: not checked here). */
function orchPost(url: string, headers: Record<string, string>, body = ""): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: "POST", headers, rejectUnauthorized: false, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("a BYOC capability paid and run on the dev chain's orchestrator", () => {
  let running: RunningSigner;
  beforeAll(async () => {
    running = await startSigner(parseFlags(["-httpAddr", "127.0.0.1:0", "-byocPerCapPricing"])!, pino({ level: "silent" }));
  }, 120_000);
  afterAll(() => running?.close());

  test("type byoc tickets at the per-capability price are accepted at /payment; a signed, paid job runs; a tampered one is refused", async () => {
    const orch = running.devOrchestrators[0]!;
    const client = createClient(SignerService, createGrpcTransport({ baseUrl: running.url }));
    const info = await getOrchestratorInfo(orch.url, client, { tls: { trust: "pinned", sha256: orch.certificate.sha256 } });
    expect(info.capabilitiesPrices.map((p) => [p.capability, p.constraint])).toEqual([[37, "dev-echo"]]);

    // type byoc, the capability in the capabilities: 60 s at 5e7 wei/s = 3e9 wei: four tickets of EV just under 1e9.
    const paid = await client.generateLivePayment({ orchestrator: info, type: JobType.BYOC, manifestId: "byoc-1", capabilities: byocCapsFor("dev-echo") });
    expect([paid.fee, paid.numTickets, paid.payment?.expectedPrice?.pricePerUnit]).toEqual(["3000000000", 4, 50_000_000n]);
    const accepted = orch.stats().accepted;
    const res = await orchPost(`${orch.url}/payment`, { "Livepeer-Payment": paid.paymentHeader, "Livepeer-Segment": paid.segmentHeader });
    expect(res.status, res.body).toBe(200);
    expect(orch.stats().accepted).toBe(accepted + 1);

    // The SDK's job flow: sign the job, pay as it does (lv2v naming the capability), send both.
    const job = { id: "job-1", capability: "dev-echo", request: JSON.stringify({ prompt: "a cat" }), parameters: "", timeout_seconds: 30 };
    const signed = JSON.parse((await postJson(`${running.url}/sign-byoc-job`, JSON.stringify(job))).body) as { sender: string; signature: string };
    expect(signed.sender).toBe(running.address);
    const header = jobHeader({ ...job, sender: signed.sender, sig: signed.signature });
    const tampered = jobHeader({ ...job, request: JSON.stringify({ prompt: "a dog" }), sender: signed.sender, sig: signed.signature });
    const refused = await orchPost(`${orch.url}/process/request/dev-echo`, { Livepeer: tampered, "Content-Type": "application/json" }, job.request);
    expect([refused.status, refused.body]).toEqual([400, `${JOB_ERRORS.noJobCreds}\n`]);
    const unpaid = await orchPost(`${orch.url}/process/request/dev-echo`, { Livepeer: header, "Content-Type": "application/json" }, job.request);
    expect([unpaid.status, unpaid.body]).toEqual([400, `${JOB_ERRORS.insufficientBalance}\n`]);

    // A new session: fresh ticket params (the first session's nonces are spent).
    const fresh = await getOrchestratorInfo(orch.url, client, { tls: { trust: "pinned", sha256: orch.certificate.sha256 } });
    const legacyPay = await postJson(
      `${running.url}/generate-live-payment`,
      JSON.stringify({ orchestrator: Buffer.from(orchestratorInfoBytes(fresh)).toString("base64"), type: "lv2v", capability: "dev-echo" }),
    );
    expect(legacyPay.status, legacyPay.body).toBe(200);
    const { payment, segCreds } = JSON.parse(legacyPay.body) as { payment: string; segCreds: string };
    expect(fromBinary(PaymentSchema, Buffer.from(payment, "base64")).ticketSenderParams).toHaveLength(4);
    const ran = await orchPost(
      `${orch.url}/process/request/dev-echo`,
      { Livepeer: header, "Livepeer-Capability": "dev-echo", "Livepeer-Payment": payment, "Livepeer-Segment": segCreds, "Content-Type": "application/json" },
      job.request,
    );
    expect(ran.status, ran.body).toBe(200);
    expect(JSON.parse(ran.body)).toMatchObject({ id: "job-1", capability: "dev-echo", details: { prompt: "a cat" } });
    // Balance left: the tickets' EV (about 3e9) less one compute-second (5e7).
    expect(Number(ran.headers["livepeer-balance"])).toBeGreaterThan(2.9e9);
    expect(orch.byoc.stats().jobs).toBe(1);
  }, 60_000);
});

function byocCapsFor(model: string) {
  return create(CapabilitiesSchema, { constraints: { PerCapability: { 37: { models: { [model]: { warm: true } } } } } });
}
