/**
 * []byte fields read base64 as Go's encoding/json does (StdEncoding: the standard alphabet, padded;
 * CR and LF ignored). The decoder first tries a shortcut judged by what Node's lenient decoder made
 * of the text; these cases check it against the alphabet rule itself, on valid texts and on texts
 * one character away from valid (every kind of character Node's decoder treats specially).
 */
import { randomBytes } from "node:crypto";
import { expect, test } from "vitest";
import { JsonSyntaxError, parseGoJson } from "./json.js";
import { goBytes, goStruct, readGoStruct } from "./struct.js";

const Holder = goStruct("pkg.Holder", { b: ["b", goBytes] });
const STD_PADDED = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** What the field reads as: its bytes (hex), or the error's message. */
function read(text: string): string {
  try {
    return Buffer.from(readGoStruct(Holder, parseGoJson(JSON.stringify({ b: text })))!.b!).toString("hex");
  } catch (err) {
    if (err instanceof JsonSyntaxError) return `error: ${err.message}`;
    throw err;
  }
}

/** Go's rule: valid texts decode; others fail (the message is the decoder's own, checked elsewhere). */
function expected(text: string): string | RegExp {
  return STD_PADDED.test(text) ? Buffer.from(text, "base64").toString("hex") : /^error: illegal base64 data at input byte \d+$/;
}

// Characters Node's decoder reads differently from Go's: base64url's, '=', skipped ones, a space,
// UTF-16 units whose low byte is in the alphabet ('Ł' is 0x141), a lone surrogate, NUL.
const ODD = ["-", "_", "=", " ", "!", ".", "\t", "\u0141", "\u012b", "\u00e9", "\ud800", "\u0000", "A", "+", "/"];

function cases(): string[] {
  const out = ["", "====", "A===", "QR==", "QQ=A", "QQ==QQ==", "ab-_", "abc=", "ab=="];
  for (let n = 0; n < 40; n++) {
    for (let k = 0; k < 4; k++) {
      const valid = randomBytes(n).toString("base64");
      out.push(valid);
      if (valid.length === 0) continue;
      const at = Math.floor(Math.random() * valid.length);
      for (const c of ODD) {
        out.push(valid.slice(0, at) + c + valid.slice(at + 1)); // replaced: same length
        out.push(valid.slice(0, at) + c + valid.slice(at)); // inserted
      }
      // Nonzero trailing bits (Go's StdEncoding accepts them): the last character before the padding changed.
      const pad = valid.endsWith("==") ? 2 : valid.endsWith("=") ? 1 : 0;
      if (pad > 0) out.push(valid.slice(0, -pad - 1) + "/" + valid.slice(-pad));
    }
  }
  return out;
}

test("base64 []byte: valid texts decode, and a text one character off Go's alphabet or padding never does", () => {
  let valid = 0;
  for (const text of cases()) {
    const want = expected(text);
    if (typeof want === "string") {
      valid++;
      expect(read(text), JSON.stringify(text)).toBe(want);
    } else {
      expect(read(text), JSON.stringify(text)).toMatch(want);
    }
  }
  expect(valid).toBeGreaterThan(200); // both kinds were tried
});
