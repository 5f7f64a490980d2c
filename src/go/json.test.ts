import { describe, expect, test } from "vitest";
import { goJsonString, JsonSyntaxError, JsonTypeError, parseGoJson } from "./json.js";
import {
  goBytes,
  goBytesRemembered,
  goFloat32,
  goInt64,
  goNumber,
  goPointer,
  goSlice,
  goString,
  goStruct,
  goUint32,
  goUint64,
  readGoStruct,
  type GoType,
} from "./struct.js";

const Inner = goStruct("pkg.Inner", { a: ["A", goString], b: ["b", goInt64] });
const Outer = goStruct("pkg.Outer", {
  s: ["s", goString],
  i: ["i", goInt64],
  u32: ["u32", goUint32],
  u64: ["u64", goUint64],
  f: ["f", goFloat32],
  n: ["n", goNumber],
  bytes: ["bytes", goBytes],
  inner: ["inner", Inner],
  ptr: ["ptr", goPointer(Inner)],
  list: ["list", goSlice(Inner)],
  id: ["ID", goString],
});

const read = <T>(type: GoType<T>, json: string, mode: "decoder" | "unmarshal" = "unmarshal") => readGoStruct(type, parseGoJson(json, mode));
const message = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return "no error";
};

describe("readGoStruct: values by Go type", () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ["string", '{"s":"x"}', { s: "x" }],
    ["int64 limits", '{"i":-9223372036854775808}', { i: -(1n << 63n) }],
    ["uint32 max", '{"u32":4294967295}', { u32: 4294967295n }],
    ["uint64 max", '{"u64":18446744073709551615}', { u64: (1n << 64n) - 1n }],
    ["float32", '{"f":1.5e3}', { f: 1500 }],
    ["json.Number from a number keeps the literal", '{"n":1.50e+2}', { n: "1.50e+2" }],
    ["json.Number from a string", '{"n":"-0.5"}', { n: "-0.5" }],
    ["[]byte from base64 (CR/LF ignored)", '{"bytes":"AQ\\r\\nI="}', { bytes: new Uint8Array([1, 2]) }],
    // Not what an encoder writes (it encodes back as "QQ=="), but Go's non-strict decoder takes it.
    ["[]byte from base64 with stray trailing bits", '{"bytes":"QR=="}', { bytes: new Uint8Array([0x41]) }],
    ["[]byte from an array of uint8", '{"bytes":[1,255]}', { bytes: new Uint8Array([1, 255]) }],
    ["nested struct", '{"inner":{"A":"x","b":2}}', { inner: { a: "x", b: 2n } }],
    ["slice of structs, null element is the zero value", '{"list":[{"A":"x"},null]}', { list: [{ a: "x" }, undefined] }],
  ];
  test.each(cases)("%s", (_name, json, expected) => {
    expect(read(Outer, json)).toEqual(expected);
  });
});

describe("readGoStruct: keys", () => {
  test("unknown keys are ignored", () => {
    expect(read(Outer, '{"zzz":[1,{"a":2}],"s":"x","s2":1}')).toEqual({ s: "x" });
  });
  test("keys match case-insensitively, with Go's fold (ſ is s, K is k)", () => {
    expect(read(Outer, '{"S":"a","Id":"b"}')).toEqual({ s: "a", id: "b" });
    expect(read(Outer, '{"\u017f":"a","inner":{"\u212a":1}}')).toEqual({ s: "a", inner: {} });
    expect(read(goStruct("p.K", { k: ["k", goString] }), '{"\u212a":"v"}')).toEqual({ k: "v" });
  });
  test("a repeated key decodes again: the last value wins, a repeated object merges", () => {
    expect(read(Outer, '{"s":"a","S":"b"}')).toEqual({ s: "b" });
    expect(read(Outer, '{"inner":{"A":"x","b":1},"inner":{"b":2}}')).toEqual({ inner: { a: "x", b: 2n } });
  });
});

describe("readGoStruct: null", () => {
  test("null leaves strings, numbers and structs as they were", () => {
    expect(read(Outer, '{"s":"a","s":null,"i":1,"i":null,"inner":{"A":"x"},"inner":null}')).toEqual({ s: "a", i: 1n, inner: { a: "x" } });
  });
  test("null resets pointers and slices ([]byte too)", () => {
    expect(read(Outer, '{"ptr":{"A":"x"},"ptr":null,"bytes":"AQ==","bytes":null,"list":[],"list":null}')).toEqual({
      ptr: undefined,
      bytes: undefined,
      list: undefined,
    });
  });
  test("a top-level null is no value", () => {
    expect(read(Outer, "null")).toBeUndefined();
  });
});

describe("readGoStruct: Go's error messages", () => {
  const cases: [string, string, string][] = [
    ["wrong type", '{"s":1}', "json: cannot unmarshal number into Go struct field Outer.s of type string"],
    ["bool", '{"i":true}', "json: cannot unmarshal bool into Go struct field Outer.i of type int64"],
    ["fraction into an integer", '{"i":1.0}', "json: cannot unmarshal number 1.0 into Go struct field Outer.i of type int64"],
    ["exponent into an integer", '{"i":1e3}', "json: cannot unmarshal number 1e3 into Go struct field Outer.i of type int64"],
    ["int64 overflow", '{"i":9223372036854775808}', "json: cannot unmarshal number 9223372036854775808 into Go struct field Outer.i of type int64"],
    ["negative zero into unsigned", '{"u32":-0}', "json: cannot unmarshal number -0 into Go struct field Outer.u32 of type uint32"],
    ["uint32 overflow", '{"u32":4294967296}', "json: cannot unmarshal number 4294967296 into Go struct field Outer.u32 of type uint32"],
    ["float32 overflow", '{"f":1e39}', "json: cannot unmarshal number 1e39 into Go struct field Outer.f of type float32"],
    ["nested: innermost struct and full path", '{"inner":{"b":"x"}}', "json: cannot unmarshal string into Go struct field Inner.inner.b of type int64"],
    ["struct of the wrong kind", '{"ptr":[]}', "json: cannot unmarshal array into Go struct field Outer.ptr of type pkg.Inner"],
    ["top level", "[]", "json: cannot unmarshal array into Go value of type pkg.Outer"],
    ["byte out of range", '{"bytes":[256]}', "json: cannot unmarshal number 256 into Go struct field Outer.bytes of type uint8"],
    ["bad base64", '{"bytes":"AQ="}', "illegal base64 data at input byte 2"],
    // Node's decoder reads the URL-safe alphabet too; Go's standard one does not.
    ["URL-safe base64", '{"bytes":"-_-_"}', "illegal base64 data at input byte 0"],
    ["padding only", '{"bytes":"===="}', "illegal base64 data at input byte 0"],
    ["padding inside", '{"bytes":"AB=C"}', "illegal base64 data at input byte 2"],
    ["json.Number from a non-number string", '{"n":"1x"}', 'json: invalid number literal, trying to unmarshal "\\"1x\\"" into Number'],
    ["json.Number from a bool", '{"n":false}', "json: cannot unmarshal bool into Go struct field Outer.n of type json.Number"],
    ["the first type error in document order wins", '{"i":"x","s":1}', "json: cannot unmarshal string into Go struct field Outer.i of type int64"],
    ["a repeated key's earlier type error still fails", '{"s":1,"s":"x"}', "json: cannot unmarshal number into Go struct field Outer.s of type string"],
  ];
  test.each(cases)("%s", (_name, json, expected) => {
    expect(message(() => read(Outer, json))).toBe(expected);
  });
  test("a 1M-digit integer is out of range at once (not converted)", () => {
    const digits = "9".repeat(1_000_000);
    const started = performance.now();
    expect(message(() => read(Outer, `{"i":${digits}}`))).toBe(`json: cannot unmarshal number ${digits} into Go struct field Outer.i of type int64`);
    expect(performance.now() - started).toBeLessThan(1000);
  });
  test("type errors are JsonTypeError, base64 errors JsonSyntaxError", () => {
    expect(() => read(Outer, '{"s":1}')).toThrow(JsonTypeError);
    expect(() => read(Outer, '{"bytes":"!"}')).toThrow(JsonSyntaxError);
  });
});

describe("parseGoJson: numbers and syntax, as Go's scanner", () => {
  const cases: [string, string, string][] = [
    ["minus without digits", '{"i":-x}', "invalid character 'x' in numeric literal"],
    ["dot without digits", '{"i":1.x}', "invalid character 'x' after decimal point in numeric literal"],
    ["exponent without digits", '{"i":1ex}', "invalid character 'x' in exponent of numeric literal"],
    ["leading zero", '{"i":01}', "invalid character '1' after object key:value pair"],
    ["number cut by EOF (Unmarshal)", '{"i":1.', "unexpected end of JSON input"],
    ["trailing data (Unmarshal)", "{} x", "invalid character 'x' after top-level value"],
    ["empty (Unmarshal)", "", "unexpected end of JSON input"],
  ];
  test.each(cases)("%s", (_name, json, expected) => {
    expect(message(() => parseGoJson(json, "unmarshal"))).toBe(expected);
  });
  test("nesting: Go's 10,000 levels parse without overflowing the stack; one more is refused", () => {
    const nest = (n: number, open = "[", close = "]") => open.repeat(n) + close.repeat(n);
    expect(parseGoJson(nest(10_000)).kind).toBe("array");
    expect(parseGoJson(nest(5_000, '{"a":[', "]}")).kind).toBe("object"); // 10,000 levels
    expect(message(() => parseGoJson(nest(10_001)))).toBe("invalid character '[' exceeded max depth");
    expect(message(() => parseGoJson(`{"a":${nest(10_000)}}`))).toBe("invalid character '[' exceeded max depth");
    expect(read(Outer, `{"zzz":${nest(9_999)},"s":"x"}`)).toEqual({ s: "x" });
  });
  test("the Decoder reads the first value and ignores the rest", () => {
    expect(read(Outer, '{"s":"a"} trailing', "decoder")).toEqual({ s: "a" });
    expect(message(() => parseGoJson("", "decoder"))).toBe("EOF");
  });
  test("a number literal of any length is read in one linear pass", () => {
    const digits = "1." + "5".repeat(1_000_000);
    const started = performance.now();
    const v = parseGoJson(`{"n":${digits}}`);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(read(Outer, `{"n":${digits}}`)).toEqual({ n: digits });
    expect(v.kind).toBe("object");
  });
});

describe("goBytesRemembered", () => {
  const long = Buffer.from("x".repeat(300)).toString("base64");
  const other = Buffer.from("y".repeat(300)).toString("base64");
  const typeOf = (capacity: number) => goStruct("pkg.R", { b: ["b", goBytesRemembered(capacity)], s: ["s", goString] });

  test("the same long text gives the same array, with goBytes's bytes", () => {
    const T = typeOf(4);
    const a = read(T, `{"b":"${long}"}`)!.b!;
    const b = read(T, `{"b":"${long}\\n"}`)!.b!; // CR/LF are ignored: same bytes, another text
    const c = read(T, `{"b":"${long}"}`)!.b!;
    expect(c).toBe(a);
    expect(b).not.toBe(a);
    expect(a.byteLength).toBe(a.buffer.byteLength); // kept: copied out of the pool
    expect(Buffer.from(a).toString()).toBe("x".repeat(300));
    expect(a).toEqual(read(Outer, `{"bytes":"${long}"}`)!.bytes);
    const short = read(T, `{"b":"AAEC"}`)!.b!;
    expect(read(T, `{"b":"AAEC"}`)!.b).not.toBe(short); // short texts are not kept
    const huge = Buffer.alloc(20_000, 7).toString("base64");
    const hugeBytes = read(T, `{"b":"${huge}"}`)!.b!;
    expect(hugeBytes).toEqual(new Uint8Array(20_000).fill(7));
    expect(read(T, `{"b":"${huge}"}`)!.b).not.toBe(hugeBytes); // nor texts over maxLength
  });

  test("a bad text is never kept and fails as goBytes does, in document order", () => {
    const T = typeOf(4);
    const bad = long.slice(0, -4) + "!!!!";
    for (let i = 0; i < 2; i++) {
      expect(message(() => read(T, `{"b":"${bad}"}`))).toBe(message(() => read(Outer, `{"bytes":"${bad}"}`)));
    }
    // An earlier type error is the one reported, and the valid long text after it is still decoded.
    expect(message(() => read(T, `{"s":1,"b":"${long}"}`))).toBe("json: cannot unmarshal number into Go struct field R.s of type string");
    expect(read(T, `{"b":"${long}"}`)!.b).toBe(read(T, `{"b":"${long}"}`)!.b);
  });

  test("keeps at most its capacity, the oldest text dropped first", () => {
    const T = typeOf(1);
    const a = read(T, `{"b":"${long}"}`)!.b!;
    read(T, `{"b":"${other}"}`);
    expect(read(T, `{"b":"${long}"}`)!.b).not.toBe(a);
  });
});

describe("goJsonString", () => {
  /** Go's encoding for a string, written out: what the plain-ASCII shortcut must not change. */
  const slow = (s: string) => JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  test("every character up to U+00FF and the HTML and line separators encode as Go's json.Marshal", () => {
    const chars = [...Array.from({ length: 256 }, (_, c) => String.fromCharCode(c)), "\u2028", "\u2029", "😀", "\ud800"];
    for (const c of chars) {
      for (const s of [c, `abc${c}def`, `0x1234${c}`]) expect(goJsonString(s)).toBe(slow(s));
    }
    expect(goJsonString('a<b>&"\\')).toBe('"a\\u003cb\\u003e\\u0026\\"\\\\"');
  });
});

test("goBytes decodes every length and padding as Buffer's base64 decoder does", () => {
  for (let n = 0; n < 70; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
    const text = Buffer.from(bytes).toString("base64");
    const got = read(Outer, `{"bytes":"${text}"}`)!.bytes!;
    expect(got).toEqual(bytes);
    // A plain Uint8Array (slice() copies), in Node's pool rather than an ArrayBuffer of its own.
    expect(Buffer.isBuffer(got)).toBe(false);
    if (n > 0) expect(got.buffer.byteLength).toBe(Buffer.poolSize);
  }
});
