/** A decimal or rational from outside is larger than the bounds below (checked before any arithmetic). */
export class DecimalSizeError extends RangeError {
  override name = "DecimalSizeError";
}

/**
 * Bounds for a decimal or rational read from a request, a reply or a flag: a wei price needs far
 * less (uint256 has 78 digits), and big-number parsing and gcd grow quadratically with digits.
 */
export const DECIMAL_LIMITS = { maxChars: 100, maxDigits: 80, maxExponent: 100 } as const;

/** The largest text Rat.parse reads at all (trusted input such as the signed state's balance). */
const MAX_RAT_TEXT = 1000;

/** An exact rational number (Go's big.Rat), always normalized: gcd(num, den) = 1, den > 0. */
export class Rat {
  readonly num: bigint;
  readonly den: bigint;
  /** toString's text, kept once made (a Rat never changes): the payment path asks for it twice. */
  private text: string | undefined;

  constructor(num: bigint, den: bigint = 1n) {
    if (den === 0n) throw new RangeError("division by zero");
    if (den < 0n) {
      num = -num;
      den = -den;
    }
    const g = gcd(num < 0n ? -num : num, den);
    this.num = g > 1n ? num / g : num;
    this.den = g > 1n ? den / g : den;
    this.text = undefined;
  }

  static readonly ZERO = new Rat(0n);

  /** num/den already in lowest terms, den > 0: no gcd (the payment path adds and scales often). */
  private static reduced(num: bigint, den: bigint): Rat {
    const r = Object.create(Rat.prototype) as { num: bigint; den: bigint; text: string | undefined };
    r.num = num;
    r.den = den;
    r.text = undefined;
    return r as unknown as Rat;
  }

  add(o: Rat): Rat {
    // a/b + c = (a + c·b)/b is still in lowest terms; equal denominators need the smaller gcd only.
    if (o.den === 1n) return Rat.reduced(this.num + o.num * this.den, this.den);
    if (this.den === 1n) return Rat.reduced(this.num * o.den + o.num, o.den);
    if (this.den === o.den) return new Rat(this.num + o.num, this.den);
    return new Rat(this.num * o.den + o.num * this.den, this.den * o.den);
  }
  sub(o: Rat): Rat {
    if (o.den === 1n) return Rat.reduced(this.num - o.num * this.den, this.den);
    if (this.den === 1n) return Rat.reduced(this.num * o.den - o.num, o.den);
    if (this.den === o.den) return new Rat(this.num - o.num, this.den);
    return new Rat(this.num * o.den - o.num * this.den, this.den * o.den);
  }
  mul(o: Rat): Rat {
    // Both in lowest terms: cancelling across (Knuth's method) leaves the product in lowest terms,
    // and by an integer (a ticket count, units) only the small gcd remains.
    if (o.den === 1n) return this.mulInt(o.num);
    if (this.den === 1n) return o.mulInt(this.num);
    const g1 = gcd(abs(this.num), o.den);
    const g2 = gcd(abs(o.num), this.den);
    return Rat.reduced((this.num / g1) * (o.num / g2), (this.den / g2) * (o.den / g1));
  }
  private mulInt(n: bigint): Rat {
    if (n === 0n) return Rat.ZERO;
    const g = gcd(abs(n), this.den);
    return Rat.reduced(this.num * (n / g), this.den / g);
  }
  div(o: Rat): Rat {
    return new Rat(this.num * o.den, this.den * o.num);
  }
  cmp(o: Rat): number {
    const l = this.num * o.den;
    const r = o.num * this.den;
    return l < r ? -1 : l > r ? 1 : 0;
  }
  sign(): number {
    return this.num < 0n ? -1 : this.num > 0n ? 1 : 0;
  }
  isInt(): boolean {
    return this.den === 1n;
  }
  /** The smallest integer >= this. */
  ceil(): bigint {
    const q = this.num / this.den;
    return this.num > 0n && q * this.den !== this.num ? q + 1n : q;
  }

  /** Go's RatString: "num" when integral, else "num/den". */
  toString(): string {
    return (this.text ??= this.den === 1n ? this.num.toString() : `${this.num}/${this.den}`);
  }

  /** Go's FloatString(prec): decimal with prec digits, the last rounded half away from zero. */
  toFixed(prec: number): string {
    const neg = this.num < 0n;
    const abs = neg ? -this.num : this.num;
    const scale = 10n ** BigInt(prec);
    let q = (abs * scale) / this.den;
    const r = (abs * scale) % this.den;
    if (r * 2n >= this.den) q += 1n;
    let digits = q.toString();
    let out: string;
    if (prec > 0) {
      digits = digits.padStart(prec + 1, "0");
      out = `${digits.slice(0, -prec)}.${digits.slice(-prec)}`;
    } else {
      out = digits;
    }
    return neg ? "-" + out : out;
  }

  /**
   * Parses like Go's big.Rat.SetString: "a/b", or a decimal with optional sign, fraction
   * and exponent ("1.5", "-2e3"). Returns undefined when the text is not a number.
   */
  static parse(text: string): Rat | undefined {
    if (text.length > MAX_RAT_TEXT) return undefined;
    const frac = /^([+-]?\d+)\/(\d+)$/.exec(text);
    if (frac) {
      const den = BigInt(frac[2]!);
      return den === 0n ? undefined : new Rat(BigInt(frac[1]!), den);
    }
    const dec = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
    if (!dec) return undefined;
    const [, sign, int = "", fraction = "", exp] = dec;
    if (int === "" && fraction === "") return undefined;
    const e = exp === undefined ? 0 : Number(exp);
    if (!Number.isSafeInteger(e) || Math.abs(e) > MAX_RAT_TEXT) return undefined;
    let num = BigInt((int || "0") + fraction);
    let den = 10n ** BigInt(fraction.length);
    if (e > 0) num *= 10n ** BigInt(e);
    if (e < 0) den *= 10n ** BigInt(-e);
    return new Rat(sign === "-" ? -num : num, den);
  }

  /**
   * Rat.parse for input from outside: throws DecimalSizeError (the reason, for a message that
   * names the field) when the text breaks DECIMAL_LIMITS. The check is one linear pass.
   */
  static parseBounded(text: string): Rat | undefined {
    const { maxChars, maxDigits, maxExponent } = DECIMAL_LIMITS;
    if (text.length > maxChars) throw new DecimalSizeError(`must be at most ${maxChars} characters`);
    const e = text.search(/[eE]/);
    const mantissa = e < 0 ? text : text.slice(0, e);
    for (const part of mantissa.split("/")) {
      const digits = part.replace(/[^0-9]/g, "").replace(/^0+/, "");
      if (digits.length > maxDigits) throw new DecimalSizeError(`must have at most ${maxDigits} significant digits`);
    }
    if (e >= 0 && /^[+-]?\d+$/.test(text.slice(e + 1)) && Math.abs(Number(text.slice(e + 1))) > maxExponent) {
      throw new DecimalSizeError(`must have an exponent within ±${maxExponent}`);
    }
    return Rat.parse(text);
  }
}

const abs = (a: bigint) => (a < 0n ? -a : a);

/** The smallest integer >= num/den (den != 0), for fractions not worth reducing first. */
export function ceilQuotient(num: bigint, den: bigint): bigint {
  if (den === 0n) throw new RangeError("division by zero");
  if (den < 0n) [num, den] = [-num, -den];
  const q = num / den;
  return num > 0n && q * den !== num ? q + 1n : q;
}

/**
 * 2^256 − 1 = F0·F1·…·F7, the Fermat numbers 2^(2^k) + 1, with these prime factors, each once. A
 * ticket's EV is faceValue·winProb / (2^256 − 1), so a session's credit mostly has a denominator
 * dividing 2^256 − 1. Such a denominator's gcd with any integer is the product of the primes
 * here dividing both: a few dozen small remainders, where Euclid takes about a hundred 256-bit
 * ones (a sixth of a payment's arithmetic).
 */
export const PRIMES_OF_2_256_MINUS_1 = [
  3n, 5n, 17n, 257n, 65537n, 641n, 6700417n, 274177n, 67280421310721n, 59649589127497217n, 5704689200685129054721n,
] as const;
const TWO_256_MINUS_1 = (1n << 256n) - 1n;

/** gcd of a, b >= 0 (exported for its test). */
export function gcd(a: bigint, b: bigint): bigint {
  // A payment's most common case (an integer, a count of one): no remainder to compute at all.
  if (a === 1n || b === 1n) return 1n;
  if (b > 1n && a !== 0n && TWO_256_MINUS_1 % b === 0n) {
    let g = 1n;
    for (const p of PRIMES_OF_2_256_MINUS_1) if (b % p === 0n && a % p === 0n) g *= p;
    return g;
  }
  while (b !== 0n) {
    const r = a % b;
    a = b;
    b = r;
  }
  return a;
}
