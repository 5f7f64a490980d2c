/**
 * A JSON reader with Go's encoding/json semantics where they matter for compatibility with
 * go-livepeer clients: only the first value of the input is read (trailing bytes are
 * ignored, as json.Decoder.Decode does), number literals are kept as text so int64 and
 * decimal fields are checked exactly, object keys match struct fields case-insensitively
 * (last one wins), and invalid UTF-8 or lone surrogates become U+FFFD.
 */
export type JsonValue =
  | { kind: "null" }
  | { kind: "bool"; value: boolean }
  | { kind: "number"; raw: string }
  | { kind: "string"; value: string }
  | { kind: "array"; items: JsonValue[] }
  | { kind: "object"; entries: [string, JsonValue][] };

export class JsonSyntaxError extends Error {
  override name = "JsonSyntaxError";
}

/** A value of the wrong JSON type for a field (Go's UnmarshalTypeError). */
export class JsonTypeError extends Error {
  override name = "JsonTypeError";
  constructor(readonly field: string, expected: string, got: string) {
    super(`json: cannot unmarshal ${got} into field ${field} of type ${expected}`);
  }
}

const MAX_DEPTH = 10_000;

export function parseGoJson(input: string): JsonValue {
  let pos = 0;
  const ws = () => {
    while (pos < input.length) {
      const c = input.charCodeAt(pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) pos++;
      else break;
    }
  };
  const fail = (what: string): never => {
    throw new JsonSyntaxError(pos >= input.length ? "unexpected end of JSON input" : `invalid character at offset ${pos}: ${what}`);
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
        if (input[pos] !== '"') fail("expected object key");
        const key = string();
        ws();
        if (input[pos] !== ":") fail("expected ':'");
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
        fail("expected ',' or '}'");
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
        fail("expected ',' or ']'");
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
      if (c < 0x20) fail("control character in string literal");
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
          fail("invalid escape in string literal");
        }
        start = pos;
        continue;
      }
      pos++;
    }
  };
  const result = value(0);
  return result;
}

/** Finds a field the way Go's decoder does: case-insensitive, the last match wins. */
export function getField(obj: JsonValue & { kind: "object" }, name: string): JsonValue | undefined {
  const lower = name.toLowerCase();
  let found: JsonValue | undefined;
  for (const [k, v] of obj.entries) if (k.toLowerCase() === lower) found = v;
  return found;
}

function kindName(v: JsonValue): string {
  return v.kind === "bool" ? "bool" : v.kind;
}

/** A string field: null leaves it unset. */
export function readString(v: JsonValue | undefined, field: string): string | undefined {
  if (v === undefined || v.kind === "null") return undefined;
  if (v.kind !== "string") throw new JsonTypeError(field, "string", kindName(v));
  return v.value;
}

/** A Go integer field (int64/uint32/uint64): an integer literal within [min, max]. */
export function readInteger(v: JsonValue | undefined, field: string, min: bigint, max: bigint): bigint | undefined {
  if (v === undefined || v.kind === "null") return undefined;
  if (v.kind !== "number") throw new JsonTypeError(field, "integer", kindName(v));
  if (!/^-?\d+$/.test(v.raw)) throw new JsonTypeError(field, "integer", `number ${v.raw}`);
  const n = BigInt(v.raw);
  if (n < min || n > max) throw new JsonTypeError(field, "integer", `number ${v.raw}`);
  return n;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A Go []byte field: standard padded base64 (CR and LF ignored), null leaves it unset. */
export function readBytes(v: JsonValue | undefined, field: string): Uint8Array | undefined {
  if (v === undefined || v.kind === "null") return undefined;
  if (v.kind !== "string") throw new JsonTypeError(field, "[]byte", kindName(v));
  const text = v.value.replace(/[\r\n]/g, "");
  if (!BASE64.test(text)) throw new JsonTypeError(field, "[]byte", "invalid base64 string");
  return new Uint8Array(Buffer.from(text, "base64"));
}

/** A Go json.Number field: a number literal, or a string holding one. */
export function readNumberText(v: JsonValue | undefined, field: string): string | undefined {
  if (v === undefined || v.kind === "null") return undefined;
  if (v.kind === "number") return v.raw;
  if (v.kind === "string" && /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(v.value)) return v.value;
  throw new JsonTypeError(field, "json.Number", kindName(v));
}

export function readObject(v: JsonValue | undefined, field: string): (JsonValue & { kind: "object" }) | undefined {
  if (v === undefined || v.kind === "null") return undefined;
  if (v.kind !== "object") throw new JsonTypeError(field, "object", kindName(v));
  return v;
}

/** Go's json.Marshal string escaping: JSON.stringify plus <, >, &, U+2028, U+2029 as \u escapes. */
export function goJsonString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}
