/** Numbers for people: wei as ETH or gwei (the exact value goes in a tooltip), counts, ages. */

const WEI_PER_ETH = 10n ** 18n;
const WEI_PER_GWEI = 10n ** 9n;

/** An exact rational "num" or "num/den" (Go big.Rat text) as num and den. */
export function parseRat(text: string): { num: bigint; den: bigint } | undefined {
  const m = /^(-?\d+)(?:\/(\d+))?$/.exec(text.trim());
  if (!m) return undefined;
  const den = m[2] ? BigInt(m[2]) : 1n;
  return den === 0n ? undefined : { num: BigInt(m[1]!), den };
}

/** num/den with `digits` decimals, truncated, digits grouped. */
export function decimal(num: bigint, den: bigint, digits: number): string {
  const neg = num < 0n;
  const abs = neg ? -num : num;
  const scaled = (abs * 10n ** BigInt(digits)) / den;
  const s = scaled.toString().padStart(digits + 1, "0");
  const int = s.slice(0, s.length - digits).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  let frac = digits > 0 ? s.slice(s.length - digits).replace(/0+$/, "") : "";
  if (frac.length > 0) frac = "." + frac;
  return (neg ? "-" : "") + int + frac;
}

/** Significant decimals for a value of this size: about 4 significant digits. */
function digitsFor(num: bigint, den: bigint): number {
  const whole = (num < 0n ? -num : num) / den;
  const len = whole === 0n ? 0 : whole.toString().length;
  return Math.max(0, 4 - len);
}

/**
 * num/den truncated to `sig` significant digits, but never fewer than all of its whole part
 * (wei are counted in whole units) nor more than 30 decimals (below any amount that matters).
 */
export function significant(num: bigint, den: bigint, sig: number): string {
  const abs = num < 0n ? -num : num;
  const whole = abs / den;
  if (whole > 0n) return decimal(num, den, Math.max(0, sig - whole.toString().length));
  // Zeros after the point before the first significant digit.
  let zeros = 0;
  while (zeros < 30 && abs * 10n ** BigInt(zeros + 1) < den) zeros++;
  return decimal(num, den, Math.min(30, zeros + sig));
}

export interface Shown {
  text: string;
  /** The exact value (a long decimal for a fraction), for a tooltip. */
  exact: string;
}

/**
 * A wei amount (decimal or rational string, or bigint) in the unit that reads best: ETH from
 * 0.0001 ETH, gwei from 0.01 gwei, wei below.
 */
export function wei(value: string | bigint): Shown {
  const r = typeof value === "bigint" ? { num: value, den: 1n } : parseRat(value);
  if (!r) return { text: "—", exact: "not reported" };
  // A summed EV's fraction can run to hundreds of digits: the tooltip gets a decimal instead.
  const exact = r.num % r.den === 0n ? `${decimal(r.num / r.den, 1n, 0)} wei` : `≈ ${significant(r.num, r.den, 9)} wei`;
  const abs = r.num < 0n ? -r.num : r.num;
  if (abs * 10_000n >= WEI_PER_ETH * r.den) {
    const den = r.den * WEI_PER_ETH;
    return { text: `${decimal(r.num, den, digitsFor(r.num, den))} ETH`, exact };
  }
  if (abs * 100n >= WEI_PER_GWEI * r.den) {
    const den = r.den * WEI_PER_GWEI;
    return { text: `${decimal(r.num, den, digitsFor(r.num, den))} gwei`, exact };
  }
  return { text: `${decimal(r.num, r.den, digitsFor(r.num, r.den))} wei`, exact };
}

/** 1234567 → "1,234,567"; large values shortened (1.2M) with the exact count in the tooltip. */
export function count(n: bigint | number): Shown {
  const v = typeof n === "bigint" ? n : BigInt(Math.round(n));
  const exact = v.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  if (v < 1_000_000n) return { text: exact, exact };
  const units: [bigint, string][] = [
    [10n ** 12n, "T"],
    [10n ** 9n, "G"],
    [10n ** 6n, "M"],
  ];
  for (const [size, suffix] of units) {
    if (v >= size) return { text: `${decimal(v, size, v >= size * 100n ? 0 : 1)}${suffix}`, exact };
  }
  return { text: exact, exact };
}

/** A duration for humans: "4 s", "3 min 20 s", "2 h 5 min", "3 d 4 h". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

const CHAINS: Record<string, string> = {
  "1": "Ethereum",
  "42161": "Arbitrum One",
  "421614": "Arbitrum Sepolia",
  "11155111": "Sepolia",
};

export function networkName(chainId: bigint, devChain: boolean): string {
  if (devChain) return `development chain (${chainId})`;
  return CHAINS[chainId.toString()] ? `${CHAINS[chainId.toString()]} (${chainId})` : `chain ${chainId}`;
}

/** a / b as "1,234×" (how many times b fits in a), or "—". */
export function ratio(a: string, b: string): Shown {
  const x = parseRat(a);
  const y = parseRat(b);
  if (!x || !y || y.num === 0n) return { text: "—", exact: "not reported" };
  const num = x.num * y.den;
  const den = x.den * y.num;
  return { text: `${decimal(num, den, num / den >= 100n ? 0 : 1)}×`, exact: `${decimal(num, den, 6)} times` };
}

/** Two latencies in the unit of the larger, two or three digits: "0.67 / 21 ms", "850 / 990 µs". */
export function latencyPair(a: number, b: number): string {
  if (a <= 0 && b <= 0) return "—";
  const top = Math.max(a, b);
  const [scale, unit] = top < 1 ? [1000, "µs"] : top < 1000 ? [1, "ms"] : [0.001, "s"];
  const fmt = (ms: number) => {
    const v = ms * scale;
    return v < 1 ? v.toFixed(2) : v < 10 ? v.toFixed(1) : String(Math.round(v));
  };
  return `${fmt(a)} / ${fmt(b)} ${unit}`;
}
