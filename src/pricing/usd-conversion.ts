/**
 * Converting a ceiling given in a currency (USD) into wei, as go-livepeer does it
 * (eth/pricefeed.go computePriceData, core/autoconvertedprice.go currencyToWeiMultiplier, and
 * cmd/livepeer/starter's pricePerPixel = maxPricePerUnit / pixelsPerUnit). Every step is an exact
 * rational: the reference uses big.Rat throughout and never rounds, so neither does this.
 *
 *   price          = answer / 10^decimals                       (the feed's "BASE / QUOTE" rate)
 *   weiPerCurrency = (base == ETH ? 1 / price : price) × 10^18
 *   ceiling        = (pricePerUnit / pixelsPerUnit) × weiPerCurrency   (wei per pixel)
 *
 * For Chainlink's "ETH / USD" feed (base ETH): ceiling = pricePerUnit × 10^18 × 10^decimals /
 * (pixelsPerUnit × answer), reduced to lowest terms.
 */
import { Rat } from "../math/rat.js";

export const WEI_PER_ETH = new Rat(10n ** 18n);

/** One round of an AggregatorV3 feed, as read. */
export interface FeedRound {
  roundId: bigint;
  /** The raw answer (BASE in QUOTE × 10^decimals). */
  answer: bigint;
  decimals: number;
  /** The round's updatedAt, seconds since the epoch. */
  updatedAt: bigint;
}

/** The feed's rate as an exact rational: answer / 10^decimals. */
export function feedPrice(answer: bigint, decimals: number): Rat {
  return new Rat(answer, 10n ** BigInt(decimals));
}

/** A Chainlink description "BASE / QUOTE" → its upper-case currencies; undefined when not of that form. */
export function parseFeedCurrencies(description: string): { base: string; quote: string } | undefined {
  const parts = description.split("/");
  if (parts.length !== 2) return undefined;
  return { base: parts[0]!.trim().toUpperCase(), quote: parts[1]!.trim().toUpperCase() };
}

/**
 * Why a feed cannot convert `currency` to wei (the reference's start-up checks), or undefined:
 * it must quote ETH against that currency, in either direction.
 */
export function feedMismatch(description: string, currency: string): string | undefined {
  const c = parseFeedCurrencies(description);
  if (!c) return `price feed description must be "BASE / QUOTE", got ${JSON.stringify(description)}`;
  if (c.base !== "ETH" && c.quote !== "ETH") return `price feed does not have ETH as a currency (${c.base}/${c.quote})`;
  const cur = currency.toUpperCase();
  if (c.base !== cur && c.quote !== cur) return `price feed does not have ${cur} as a currency (${c.base}/${c.quote})`;
  return undefined;
}

/** Wei per one unit of the feed's non-ETH currency; the answer must be > 0. */
export function weiPerCurrencyUnit(round: Pick<FeedRound, "answer" | "decimals">, baseCurrency: string): Rat {
  if (round.answer <= 0n) throw new RangeError(`price feed answer must be > 0, got ${round.answer}`);
  const price = feedPrice(round.answer, round.decimals);
  const ethMultiplier = baseCurrency.toUpperCase() === "ETH" ? new Rat(1n).div(price) : price;
  return ethMultiplier.mul(WEI_PER_ETH);
}

/** A ceiling in currency per pixel → wei per pixel. */
export function ceilingInWei(perPixel: Rat, weiPerUnit: Rat): Rat {
  return perPixel.mul(weiPerUnit);
}
