import { randomBytes } from "node:crypto";
import { expect, test } from "vitest";
import { Rat } from "./rat.js";

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
