/**
 * A JSON reader with Go's encoding/json semantics where they matter for compatibility with
 * go-livepeer clients: json.Decoder.Decode reads only the first value (trailing bytes are
 * ignored) while json.Unmarshal refuses trailing data; number literals are kept as text so
 * int64 and decimal fields are checked exactly; object keys match struct fields
 * case-insensitively and every match is decoded in order (null leaves the field as it was, a
 * repeated object merges); invalid UTF-8 or lone surrogates become U+FFFD; syntax errors carry
 * Go's messages.
 */
export type JsonValue =
  | { kind: "null" }
  | { kind: "bool"; value: boolean }
  | { kind: "number"; raw: string }
  | { kind: "string"; value: string }
  | { kind: "array"; items: JsonValue[] }
  | { kind: "object"; entries: [string, JsonValue][] }
  /** Several keys of one object matched a field: each is decoded in order, as Go does. */
  | { kind: "repeated"; values: JsonValue[] };

export class JsonSyntaxError extends Error {
  override name = "JsonSyntaxError";
}

/** A value of the wrong JSON type for a field (Go's UnmarshalTypeError). */
export class JsonTypeError extends Error {
  override name = "JsonTypeError";
  constructor(readonly field: string, expected: string, got: string) {
    super(`json: cannot unmarshal ${got} into Go struct field ${field} of type ${expected}`);
  }
}

const MAX_DEPTH = 10_000;

/** Go's quoteChar for error messages. */
function quoteChar(c: string): string {
  if (c === "'") return "'\\''";
  if (c === '"') return "'\"'";
  const q = JSON.stringify(c);
  return "'" + q.slice(1, -1) + "'";
}

/**
 * Parses like Go: `decoder` (json.NewDecoder(r).Decode) reads the first value and ignores the
 * rest; `unmarshal` (json.Unmarshal) refuses anything but white space after it.
 */
export function parseGoJson(input: string, mode: "decoder" | "unmarshal" = "decoder"): JsonValue {
  let pos = 0;
  const ws = () => {
    while (pos < input.length) {
      const c = input.charCodeAt(pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) pos++;
      else break;
    }
  };
  const fail = (what: string): never => {
    if (pos >= input.length) throw new JsonSyntaxError(mode === "decoder" ? "unexpected EOF" : "unexpected end of JSON input");
    throw new JsonSyntaxError(`invalid character ${quoteChar(input[pos]!)} ${what}`);
  };
  const value = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) fail("exceeded max depth");
    ws();
    const c = input[pos];
    if (c === "{") {
      pos++;
      const entries: [string, JsonValue][] = [];
      ws();
      if (input[pos] === "}") {
        pos++;
        return { kind: "object", entries };
      }
      for (;;) {
        ws();
        if (input[pos] !== '"') fail("looking for beginning of object key string");
        const key = string();
        ws();
        if (input[pos] !== ":") fail("after object key");
        pos++;
        entries.push([key, value(depth + 1)]);
        ws();
        if (input[pos] === ",") {
          pos++;
          continue;
        }
        if (input[pos] === "}") {
          pos++;
          return { kind: "object", entries };
        }
        fail("after object key:value pair");
      }
    }
    if (c === "[") {
      pos++;
      const items: JsonValue[] = [];
      ws();
      if (input[pos] === "]") {
        pos++;
        return { kind: "array", items };
      }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        if (input[pos] === ",") {
          pos++;
          continue;
        }
        if (input[pos] === "]") {
          pos++;
          return { kind: "array", items };
        }
        fail("after array element");
      }
    }
    if (c === '"') return { kind: "string", value: string() };
    if (input.startsWith("true", pos)) {
      pos += 4;
      return { kind: "bool", value: true };
    }
    if (input.startsWith("false", pos)) {
      pos += 5;
      return { kind: "bool", value: false };
    }
    if (input.startsWith("null", pos)) {
      pos += 4;
      return { kind: "null" };
    }
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(input.slice(pos, pos + 4096));
    if (!m) return fail("looking for beginning of value");
    pos += m[0].length;
    return { kind: "number", raw: m[0] };
  };
  const string = (): string => {
    pos++; // opening quote
    let out = "";
    let start = pos;
    for (;;) {
      if (pos >= input.length) fail("unterminated string");
      const c = input.charCodeAt(pos);
      if (c === 0x22) {
        out += input.slice(start, pos);
        pos++;
        return out.toWellFormed();
      }
      if (c < 0x20) fail("in string literal");
      if (c === 0x5c) {
        out += input.slice(start, pos);
        const e = input[pos + 1];
        const simple: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
        if (e !== undefined && e in simple) {
          out += simple[e];
          pos += 2;
        } else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(input.slice(pos + 2, pos + 6))) {
          out += String.fromCharCode(parseInt(input.slice(pos + 2, pos + 6), 16));
          pos += 6;
        } else {
          fail("in string escape code");
        }
        start = pos;
        continue;
      }
      pos++;
    }
  };
  ws();
  if (pos >= input.length) throw new JsonSyntaxError(mode === "decoder" ? "EOF" : "unexpected end of JSON input");
  const result = value(0);
  if (mode === "unmarshal") {
    ws();
    if (pos < input.length) fail("after top-level value");
  }
  return result;
}

/** The keys of an object that Go would decode into the struct field `name` (case-insensitive), in order. */
export function getField(obj: JsonValue & { kind: "object" }, name: string): JsonValue | undefined {
  const lower = name.toLowerCase();
  const found: JsonValue[] = [];
  for (const [k, v] of obj.entries) if (k.toLowerCase() === lower) found.push(v);
  return found.length === 0 ? undefined : found.length === 1 ? found[0] : { kind: "repeated", values: found };
}

/** Decodes each repeated match in order; the last non-null wins, any type error is an error. */
function eachValue<T>(v: JsonValue & { kind: "repeated" }, read: (x: JsonValue) => T | undefined): T | undefined {
  let out: T | undefined;
  for (const x of v.values) {
    const r = read(x);
    if (r !== undefined) out = r;
  }
  return out;
}

function kindName(v: JsonValue): string {
  return v.kind === "bool" ? "bool" : v.kind;
}

/** A string field: null leaves it unset. */
export function readString(v: JsonValue | undefined, field: string): string | undefined {
  if (v?.kind === "repeated") return eachValue(v, (x) => readString(x, field));
  if (v === undefined || v.kind === "null") return undefined;
  if (v.kind !== "string") throw new JsonTypeError(field, "string", kindName(v));
  return v.value;
}

/** A Go integer field (int64/uint32/uint64): an integer literal within [min, max]. */
export function readInteger(v: JsonValue | undefined, field: string, min: bigint, max: bigint): bigint | undefined {
  if (v?.kind === "repeated") return eachValue(v, (x) => readInteger(x, field, min, max));
  if (v === undefined || v.kind === "null") return undefined;
  const goType = min < 0n ? "int64" : max <= 0xffff_ffffn ? "uint32" : "uint64";
  if (v.kind !== "number") throw new JsonTypeError(field, goType, kindName(v));
  // Go parses unsigned fields without a sign: "-0" is an error there.
  if (!/^-?\d+$/.test(v.raw) || (min >= 0n && v.raw.startsWith("-"))) throw new JsonTypeError(field, goType, `number ${v.raw}`);
  const n = BigInt(v.raw);
  if (n < min || n > max) throw new JsonTypeError(field, goType, `number ${v.raw}`);
  return n;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A Go []byte field: standard padded base64 (CR and LF ignored), null leaves it unset. */
export function readBytes(v: JsonValue | undefined, field: string): Uint8Array | undefined {
  if (v?.kind === "repeated") return eachValue(v, (x) => readBytes(x, field));
  if (v === undefined || v.kind === "null") return undefined;
  if (v.kind !== "string") throw new JsonTypeError(field, "[]uint8", kindName(v));
  const text = v.value.replace(/[\r\n]/g, "");
  if (!BASE64.test(text)) throw new JsonSyntaxError(`illegal base64 data at input byte ${base64ErrorOffset(text)}`);
  return new Uint8Array(Buffer.from(text, "base64"));
}

/** Where Go's base64 decoder reports the error: the first byte that breaks the alphabet or padding. */
function base64ErrorOffset(text: string): number {
  const bad = text.search(/[^A-Za-z0-9+/=]/);
  const pad = text.indexOf("=");
  if (bad >= 0 && (pad < 0 || bad < pad)) return bad;
  if (pad >= 0) return pad;
  return text.length - (text.length % 4);
}

/** A Go json.Number field: a number literal, or a string holding one. */
export function readNumberText(v: JsonValue | undefined, field: string): string | undefined {
  if (v?.kind === "repeated") return eachValue(v, (x) => readNumberText(x, field));
  if (v === undefined || v.kind === "null") return undefined;
  if (v.kind === "number") return v.raw;
  if (v.kind === "string" && /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(v.value)) return v.value;
  throw new JsonTypeError(field, "json.Number", kindName(v));
}

export function readObject(v: JsonValue | undefined, field: string): (JsonValue & { kind: "object" }) | undefined {
  if (v?.kind === "repeated") {
    // Go decodes a repeated object into the same struct: the later keys overwrite, the rest stay.
    const objects = v.values.map((x) => readObject(x, field)).filter((o) => o !== undefined);
    return objects.length === 0 ? undefined : { kind: "object", entries: objects.flatMap((o) => o.entries) };
  }
  if (v === undefined || v.kind === "null") return undefined;
  if (v.kind !== "object") throw new JsonTypeError(field, "object", kindName(v));
  return v;
}

/** Go's json.Marshal string escaping: JSON.stringify plus <, >, &, U+2028, U+2029 as \u escapes. */
export function goJsonString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}
