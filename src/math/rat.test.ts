import { randomBytes } from "node:crypto";
import { expect, test } from "vitest";
import { ceilQuotient, gcd, PRIMES_OF_2_256_MINUS_1, Rat } from "./rat.js";

const big = (bytes: number) => BigInt("0x" + randomBytes(bytes).toString("hex")) * (randomBytes(1)[0]! & 1 ? -1n : 1n);
const positive = (bytes: number) => BigInt("0x" + randomBytes(bytes).toString("hex")) + 1n;

/** The generic formula, normalized by the constructor: what every shortcut must equal. */
const slowAdd = (a: Rat, b: Rat) => new Rat(a.num * b.den + b.num * a.den, a.den * b.den);
const slowSub = (a: Rat, b: Rat) => new Rat(a.num * b.den - b.num * a.den, a.den * b.den);

test("add and sub shortcuts (integer operand, equal denominators) give the normalized generic result", () => {
  const MAX = (1n << 256n) - 1n;
  for (let i = 0; i < 500; i++) {
    const den = [1n, positive(1), positive(32), MAX][i % 4]!;
    const a = new Rat(big(40), den);
    const cases = [new Rat(big(20)), new Rat(big(40), den), new Rat(big(40), positive(32)), Rat.ZERO, new Rat(-a.num, a.den)];
    for (const b of cases) {
      for (const [x, y] of [[a, b], [b, a]] as const) {
        for (const [fast, slow] of [[x.add(y), slowAdd(x, y)], [x.sub(y), slowSub(x, y)]] as const) {
          expect([fast.num, fast.den]).toEqual([slow.num, slow.den]);
          expect(fast).toBeInstanceOf(Rat);
          expect(fast.toString()).toBe(slow.toString());
        }
      }
    }
  }
});

test("mul (cancelling across, integer shortcut) gives the normalized generic product", () => {
  const slowMul = (a: Rat, b: Rat) => new Rat(a.num * b.num, a.den * b.den);
  const MAX = (1n << 256n) - 1n;
  for (let i = 0; i < 1000; i++) {
    const a = new Rat(big(40), [1n, positive(32), MAX][i % 3]!);
    const b = [new Rat(big(1)), new Rat(big(40), positive(32)), new Rat(positive(2)), Rat.ZERO, new Rat(big(32), MAX)][i % 5]!;
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const fast = x.mul(y);
      const slow = slowMul(x, y);
      expect([fast.num, fast.den]).toEqual([slow.num, slow.den]);
      expect(fast).toBeInstanceOf(Rat);
    }
  }
});

test("ceilQuotient is the ceiling of the exact quotient, whatever the signs", () => {
  for (let i = 0; i < 1000; i++) {
    const num = big(40);
    const den = big(32) || 1n;
    const q = new Rat(num, den);
    const floor = q.num / q.den - (q.num < 0n && q.num % q.den !== 0n ? 1n : 0n);
    expect(ceilQuotient(num, den)).toBe(q.num % q.den === 0n ? q.num / q.den : floor + 1n);
    expect(ceilQuotient(num, den)).toBe(q.ceil());
  }
  expect(() => ceilQuotient(1n, 0n)).toThrow(RangeError);
});

test("gcd: with a divisor of 2^256 - 1, from its prime factors; otherwise Euclid's", () => {
  expect(PRIMES_OF_2_256_MINUS_1.reduce((a, b) => a * b, 1n)).toBe((1n << 256n) - 1n);
  const euclid = (a: bigint, b: bigint): bigint => (b === 0n ? a : euclid(b, a % b));
  const big = (bytes: number) => BigInt("0x" + randomBytes(bytes).toString("hex"));
  const primes = PRIMES_OF_2_256_MINUS_1;
  // Divisors of 2^256 - 1: products of random subsets of its primes (1 and itself among them).
  const divisors = [1n, (1n << 256n) - 1n];
  for (let i = 0; i < 60; i++) divisors.push(primes.filter(() => randomBytes(1)[0]! < 128).reduce((a, b) => a * b, 1n));
  const others = [0n, 1n, 2n, 1n << 256n, 3n * 3n, 641n * 641n, big(32), big(40), big(8)];
  for (const d of divisors) {
    // Multiples of some of d's primes (and squares of them), and unrelated numbers.
    const multiples = [0n, 1n, d, d * 7n, big(33), ...primes.map((p) => p * p * big(4)), primes[0]! * primes[10]! * big(12)];
    for (const a of [...multiples, ...others]) {
      expect(gcd(a, d), `${a} ${d}`).toBe(euclid(a, d));
      expect(gcd(d, a), `${d} ${a}`).toBe(euclid(d, a));
    }
  }
});
