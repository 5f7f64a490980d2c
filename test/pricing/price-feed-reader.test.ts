/** The background feed reader against a scripted port: what it keeps, what it ignores, how it recovers. */
import { expect, test, vi } from "vitest";
import { createPriceFeedReader, PriceFeedMismatchError, PriceFeedUnavailableError, relayedPriceFeed, type PriceFeedPort } from "../../src/pricing/price-feed.js";
import type { FeedRound } from "../../src/pricing/usd-conversion.js";

const ADDRESS = "0x639Fe6ab55C921f74e7fac1ee960C0B6293ba612";
const nowS = () => BigInt(Math.floor(Date.now() / 1000));

function scripted(description = "ETH / USD") {
  let next: FeedRound | Error = new Error("execution reverted");
  const port: PriceFeedPort = {
    description: async () => description,
    latestRound: async () => {
      if (next instanceof Error) throw next;
      return next;
    },
  };
  return { port, set: (r: FeedRound | Error) => (next = r) };
}

test("unreadable at start, usable once read; an older round is ignored; a failed read keeps the rate until it is stale", async () => {
  const feed = scripted();
  const reader = await createPriceFeedReader({ port: feed.port, address: ADDRESS, currencies: ["USD"], maxAgeMs: 60_000, intervalMs: 20 });
  try {
    expect(reader.problem()).toBe(`price feed ${ADDRESS} unreadable: execution reverted`);
    expect(() => reader.weiPer("USD")).toThrow(PriceFeedUnavailableError);

    feed.set({ roundId: 5n, answer: 3000_00000000n, decimals: 8, updatedAt: nowS() });
    await vi.waitFor(() => expect(reader.problem()).toBeUndefined(), { timeout: 2000 });
    expect(reader.weiPer("USD").toString()).toBe("1000000000000000/3");

    // An older round (a lagging RPC node) does not replace the newer one.
    feed.set({ roundId: 4n, answer: 1_00000000n, decimals: 8, updatedAt: nowS() - 600n });
    await new Promise((r) => setTimeout(r, 100));
    expect(reader.state().round?.roundId).toBe(5n);

    // A read that fails is reported but the fresh rate stays in force.
    feed.set(new Error("HTTP 502"));
    await vi.waitFor(() => expect(reader.state().error).toBe("HTTP 502"), { timeout: 2000 });
    expect(reader.problem()).toBeUndefined();

    // A non-positive answer is not a price.
    feed.set({ roundId: 6n, answer: 0n, decimals: 8, updatedAt: nowS() + 1n });
    await vi.waitFor(() => expect(reader.state().error).toBe("answer 0 is not a price"), { timeout: 2000 });
    expect(reader.state().round?.roundId).toBe(5n);
  } finally {
    reader.close();
  }
});

test("a feed that cannot convert the configured currency fails start-up", async () => {
  const feed = scripted("ETH / EUR");
  feed.set({ roundId: 1n, answer: 1n, decimals: 8, updatedAt: nowS() });
  await expect(createPriceFeedReader({ port: feed.port, address: ADDRESS, currencies: ["USD"], maxAgeMs: 60_000, intervalMs: 20 })).rejects.toThrow(
    new PriceFeedMismatchError("price feed does not have USD as a currency (ETH/EUR)"),
  );
});

test("a worker's relayed view judges the age with its own clock", () => {
  let now = 1_800_000_000_000;
  const round = { roundId: 1n, answer: 3000_00000000n, decimals: 8, updatedAt: 1_800_000_000n };
  const view = relayedPriceFeed({ address: ADDRESS, description: "ETH / USD", round, readAt: now, error: undefined }, 10_000, () => now);
  expect(view.weiPer("USD").toString()).toBe("1000000000000000/3");
  now += 10_001;
  expect(view.problem()).toBe(`price feed ${ADDRESS} stale: rate updated 10s ago (limit 10s)`);
  view.update({ address: ADDRESS, description: "ETH / USD", round: { ...round, roundId: 2n, updatedAt: 1_800_000_010n }, readAt: now, error: undefined });
  expect(view.problem()).toBeUndefined();
});
