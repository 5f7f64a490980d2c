import { describe, expect, test } from "vitest";
import { orchestratorInfo, orchestratorInfoBytes } from "../../test/support/fixtures.js";
import { parseLegacyPaymentRequest } from "./legacy-routes.js";

const body = (info: Uint8Array, extra = "") =>
  Buffer.from(`{"orchestrator":"${Buffer.from(info).toString("base64")}","type":"fixed"${extra}}`);

describe("parseLegacyPaymentRequest", () => {
  test("a session's unchanged OrchestratorInfo is decoded once and shared frozen", () => {
    const bytes = orchestratorInfoBytes(orchestratorInfo());
    const first = parseLegacyPaymentRequest(body(bytes), () => ({}), "").orchestrator;
    const again = parseLegacyPaymentRequest(body(bytes, `,"ManifestID":"m"`), () => ({}), "").orchestrator;
    expect(again).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.ticketParams)).toBe(true);
    expect(Object.isFrozen(first.priceInfo)).toBe(true);
    expect(() => {
      (first.priceInfo as { pricePerUnit: bigint }).pricePerUnit = 1n;
    }).toThrow(TypeError);
  });

  test("another OrchestratorInfo is decoded on its own", () => {
    const a = parseLegacyPaymentRequest(body(orchestratorInfoBytes(orchestratorInfo({ pricePerUnit: 7n }))), () => ({}), "").orchestrator;
    const b = parseLegacyPaymentRequest(body(orchestratorInfoBytes(orchestratorInfo({ pricePerUnit: 9n }))), () => ({}), "").orchestrator;
    expect([a.priceInfo?.pricePerUnit, b.priceInfo?.pricePerUnit]).toEqual([7n, 9n]);
  });
});
