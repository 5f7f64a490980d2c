/**
 * The ETH rate behind USD ceilings: a port to an AggregatorV3-compatible feed (the chain client
 * implements it, src/chain/price-feed-client.ts), a reader that polls it in the background so
 * the payment path never waits on the chain, and the rule that says when a rate may be used.
 * The -workers primary runs the one reader; workers judge its relayed state with their own clock.
 */
import type { Rat } from "../math/rat.js";
import { feedMismatch, parseFeedCurrencies, weiPerCurrencyUnit, type FeedRound } from "./usd-conversion.js";
import type { CurrencyRate } from "./price-limits.js";

/** An AggregatorV3Interface feed. */
export interface PriceFeedPort {
  /** The feed's "BASE / QUOTE" description, e.g. "ETH / USD". */
  description(): Promise<string>;
  /** latestRoundData() with decimals(). */
  latestRound(): Promise<FeedRound>;
}

/** What the reader knows: plain data, relayed as is to -workers workers. */
export interface PriceFeedState {
  address: string;
  /** "" until read. */
  description: string;
  /** The newest round read; undefined until one was. */
  round: FeedRound | undefined;
  /** When the last read succeeded, ms since the epoch. */
  readAt: number | undefined;
  /** Why the last read failed; undefined when it succeeded. */
  error: string | undefined;
}

/** No usable rate: payments that need a currency ceiling answer unavailable. */
export class PriceFeedUnavailableError extends Error {
  override name = "PriceFeedUnavailableError";
}

/** The rate's age: now − the round's updatedAt (0 when updatedAt is ahead of this clock). */
export function rateAgeMs(state: PriceFeedState, nowMs: number): number | undefined {
  return state.round && Math.max(0, nowMs - Number(state.round.updatedAt) * 1000);
}

/** Why the rate cannot be used now, or undefined: never read (unreadable), or older than maxAgeMs. */
export function feedProblem(state: PriceFeedState, nowMs: number, maxAgeMs: number): string | undefined {
  if (!state.round) return `price feed ${state.address} unreadable: ${state.error ?? "not read yet"}`;
  const age = rateAgeMs(state, nowMs)!;
  if (age > maxAgeMs) {
    return `price feed ${state.address} stale: rate updated ${Math.round(age / 1000)}s ago (limit ${Math.round(maxAgeMs / 1000)}s)`;
  }
  return undefined;
}

/** Wei per one unit of `currency` from this state, or PriceFeedUnavailableError. */
export function feedRate(state: PriceFeedState, currency: string, nowMs: number, maxAgeMs: number): Rat {
  const problem = feedProblem(state, nowMs, maxAgeMs);
  if (problem) throw new PriceFeedUnavailableError(problem);
  const mismatch = feedMismatch(state.description, currency);
  if (mismatch) throw new PriceFeedUnavailableError(mismatch);
  return weiPerCurrencyUnit(state.round!, parseFeedCurrencies(state.description)!.base);
}

/** The feed as the signer sees it: a CurrencyRate for PriceLimits, plus its state for status and readiness. */
export interface PriceFeedView extends CurrencyRate {
  state(): PriceFeedState;
  maxAgeMs: number;
  /** Why payments needing it are refused now, or undefined. */
  problem(): string | undefined;
  close(): void;
}

function viewOf(get: () => PriceFeedState, maxAgeMs: number, now: () => number, close = () => {}): PriceFeedView {
  return {
    weiPer: (currency) => feedRate(get(), currency, now(), maxAgeMs),
    state: get,
    maxAgeMs,
    problem: () => feedProblem(get(), now(), maxAgeMs),
    close,
  };
}

/** pino-compatible subset. */
export interface FeedLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface PriceFeedReaderOptions {
  port: PriceFeedPort;
  address: string;
  /** Currencies the ceilings use: a feed that cannot convert one fails start-up, as in the reference. */
  currencies: Iterable<string>;
  maxAgeMs: number;
  /** Time between reads (the reference polls hourly; a read is one cheap eth_call pair). */
  intervalMs: number;
  logger?: FeedLogger;
  now?: () => number;
}

/** A feed that cannot convert the configured currencies: the operator's mistake. */
export class PriceFeedMismatchError extends Error {
  override name = "PriceFeedMismatchError";
}

/**
 * Reads the feed once (start-up: a wrong feed fails here; an unreadable one starts unavailable
 * and recovers when a read succeeds), then in the background every intervalMs.
 */
export async function createPriceFeedReader(opts: PriceFeedReaderOptions): Promise<PriceFeedView> {
  const now = opts.now ?? Date.now;
  let state: PriceFeedState = { address: opts.address, description: "", round: undefined, readAt: undefined, error: undefined };
  const read = async () => {
    try {
      const description = state.description || (await opts.port.description());
      for (const currency of opts.currencies) {
        const mismatch = feedMismatch(description, currency);
        if (mismatch) throw new PriceFeedMismatchError(mismatch);
      }
      const round = await opts.port.latestRound();
      if (round.answer <= 0n) throw new Error(`answer ${round.answer} is not a price`);
      // Like the reference, a round older than the one held is ignored.
      const prev = state.round;
      const newer = !prev || round.updatedAt > prev.updatedAt || (round.updatedAt === prev.updatedAt && round.roundId !== prev.roundId);
      if (newer && (prev?.answer !== round.answer || prev.decimals !== round.decimals)) {
        opts.logger?.info({ address: opts.address, description, answer: round.answer.toString(), decimals: round.decimals, updatedAt: Number(round.updatedAt) }, "price feed rate");
      }
      state = { ...state, description, round: newer ? round : prev, readAt: now(), error: undefined };
    } catch (err) {
      if (err instanceof PriceFeedMismatchError) throw err;
      const error = (err as Error).message;
      if (error !== state.error) opts.logger?.warn({ address: opts.address, err: error }, "price feed read failed");
      state = { ...state, error };
    }
  };
  await read();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    timer = setTimeout(() => {
      read().then(
        () => stopped || loop(),
        (err: unknown) => {
          // The feed changed currencies under us: refuse, loudly, until it is fixed.
          state = { ...state, round: undefined, error: (err as Error).message };
          opts.logger?.warn({ address: opts.address, err: (err as Error).message }, "price feed cannot convert the ceilings");
          if (!stopped) loop();
        },
      );
    }, opts.intervalMs);
    timer.unref();
  };
  loop();
  return viewOf(() => state, opts.maxAgeMs, now, () => {
    stopped = true;
    clearTimeout(timer);
  });
}

/** A -workers worker's view of the primary's reader, as last relayed. */
export function relayedPriceFeed(first: PriceFeedState, maxAgeMs: number, now: () => number = Date.now): PriceFeedView & { update(state: PriceFeedState): void } {
  let state = first;
  return {
    ...viewOf(() => state, maxAgeMs, now),
    update(next) {
      state = next;
    },
  };
}
