import { describe, expect, test } from "vitest";
import { Rat } from "../../src/math/rat.js";
import {
  buildSnapshot,
  DiscoveryConfigError,
  encodeRunnerJson,
  parseRunnerDiscovery,
  parseWebhookReply,
  runnerRejection,
  toLegacyDiscoveryJson,
  validateWebhookUrl,
} from "../../src/discovery/index.js";
import { create } from "@bufbuild/protobuf";
import { OrchestratorInfoSchema } from "../../gen/net/lp_rpc_pb.js";
import { NO_PRICE_LIMITS } from "../../src/pricing/price-limits.js";

const runner = `{"URL":"https://r","app":"live-video-to-video/m","capacity":1,"capacity_used":0,"capacity_available":1,
  "price_info":{"price":"1.5","currency":" Wei ","unit":"720p-pixel-seconds"},"extra":"ignored"}`;

describe("/discovery replies", () => {
  test("decoded with Go's rules: case-insensitive keys, json.Number from a string, unknown fields dropped", () => {
    const entries = parseRunnerDiscovery(`[{"address":"https://o:1","runners":[${runner}]}]`)!;
    expect(entries).toHaveLength(1);
    const r = entries[0]!.runners[0]!;
    expect(r.url).toBe("https://r");
    expect(r.priceInfo).toEqual({ price: "1.5", currency: " Wei ", unit: "720p-pixel-seconds" });
    expect(runnerRejection(r, undefined)).toBeUndefined();
    expect(runnerRejection(r, new Rat(1n))).toBe("above global max price");
    expect(encodeRunnerJson(r)).toBe(
      `{"url":"https://r","app":"live-video-to-video/m","capacity":1,"capacity_used":0,"capacity_available":1,` +
        `"price_info":{"price":1.5,"currency":" Wei ","unit":"720p-pixel-seconds"}}`,
    );
  });

  test("any type error or invalid JSON drops the whole reply", () => {
    expect(parseRunnerDiscovery(`[{"address":"https://o:1","runners":[{"url":"u","capacity":"2"}]}]`)).toBeUndefined();
    expect(parseRunnerDiscovery(`[{"address":"https://o:1","runners":[{"url":"u","capacity":1.5}]}]`)).toBeUndefined();
    expect(parseRunnerDiscovery(`[{"address":1}]`)).toBeUndefined();
    expect(parseRunnerDiscovery(`[] trailing`)).toBeUndefined();
    expect(parseRunnerDiscovery(`null`)).toEqual([]);
  });

  test("runner filter reasons", () => {
    const base = parseRunnerDiscovery(`[{"address":"a","runners":[${runner}]}]`)![0]!.runners[0]!;
    expect(runnerRejection({ ...base, url: "" }, undefined)).toBe("missing URL");
    expect(runnerRejection({ ...base, app: "  " }, undefined)).toBe("missing app");
    expect(runnerRejection({ ...base, metadata: "x".repeat(1025) }, undefined)).toMatch(/at most 1024 bytes/);
    expect(runnerRejection({ ...base, metadata: "bad \uFFFD" }, undefined)).toMatch(/U\+FFFD/);
    expect(runnerRejection({ ...base, priceInfo: undefined }, undefined)).toBe("invalid price");
    expect(runnerRejection({ ...base, priceInfo: { ...base.priceInfo!, price: "0" } }, undefined)).toBe("invalid price");
    expect(runnerRejection({ ...base, priceInfo: { ...base.priceInfo!, currency: "usd" } }, undefined)).toBe("unsupported currency");
    expect(runnerRejection({ ...base, priceInfo: { ...base.priceInfo!, unit: "hour" } }, undefined)).toBe("unsupported unit");
  });
});

describe("legacy JSON edge cases", () => {
  test("an empty snapshot is [] and a newline, as json.Encoder writes it", () => {
    expect(toLegacyDiscoveryJson([])).toBe("[]\n");
  });

  test("an orchestrator without capability models is dropped; no ceiling accepts any price", () => {
    const info = (transcoder: string, perCap: Record<number, { models: Record<string, object> }>) =>
      create(OrchestratorInfoSchema, {
        transcoder,
        address: new Uint8Array(20),
        priceInfo: { pricePerUnit: 10n ** 18n, pixelsPerUnit: 1n },
        capabilities: { constraints: { PerCapability: perCap } },
      });
    const entries = buildSnapshot({
      limits: NO_PRICE_LIMITS,
      polled: [
        { url: "x", info: info("https://o1:1/", { 35: { models: { m: {} } } }), discovery: undefined, seenAt: 1 },
        { url: "y", info: info("https://o1:1", { 35: { models: { n: {} } } }), discovery: undefined, seenAt: 2 },
        { url: "z", info: info("https://o2:1", { 35: { models: {} } }), discovery: undefined, seenAt: 3 },
        { url: "w", info: info("", { 35: { models: { m: {} } } }), discovery: undefined, seenAt: 4 },
      ],
    });
    // Service URIs with and without a trailing slash are one orchestrator (the first spelling kept).
    expect(toLegacyDiscoveryJson(entries)).toBe(
      `[{"address":"https://o1:1/","score":1,"capabilities":["live-video-to-video/m","live-video-to-video/n"]}]\n`,
    );
    expect(entries[0]!.lastSeen).toBe(2);
  });
});

describe("webhook replies and flags", () => {
  test("address/score list", () => {
    expect(parseWebhookReply(`[{"address":"https://o:1","score":1},{"Address":"https://p:2"},null,{"score":1}]`)).toEqual([
      "https://o:1",
      "https://p:2",
    ]);
    expect(parseWebhookReply("null")).toEqual([]);
    expect(() => parseWebhookReply(`{"address":"https://o:1"}`)).toThrow();
    expect(() => parseWebhookReply(`[{"address":5}]`)).toThrow();
  });

  test("-orchWebhookUrl must be http(s)", () => {
    expect(() => validateWebhookUrl("https://hook.example/orchs")).not.toThrow();
    expect(() => validateWebhookUrl("hook.example/orchs")).toThrow(DiscoveryConfigError);
    expect(() => validateWebhookUrl("ftp://hook.example")).toThrow(DiscoveryConfigError);
  });
});
