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
  | { kind: "object"; entries: [string, JsonValue][] };

export class JsonSyntaxError extends Error {
  override name = "JsonSyntaxError";
}

/** A value of the wrong JSON type for a field (Go's UnmarshalTypeError). */
export class JsonTypeError extends Error {
  override name = "JsonTypeError";
  /** `field` is "" for the top-level value. */
  constructor(readonly field: string, expected: string, got: string) {
    super(`json: cannot unmarshal ${got} into ${field === "" ? "Go value" : `Go struct field ${field}`} of type ${expected}`);
  }
}

const MAX_DEPTH = 10_000;
const CONTROL = /[\u0000-\u001f]/;

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
  const key = (): string => {
    ws();
    if (input[pos] !== '"') fail("looking for beginning of object key string");
    const k = string();
    ws();
    if (input[pos] !== ":") fail("after object key");
    pos++;
    return k;
  };
  /**
   * One value, with an explicit stack of the open arrays and objects rather than recursion, so
   * nesting to Go's limit cannot overflow the call stack.
   */
  const value = (): JsonValue => {
    const open: { container: JsonValue & { kind: "array" | "object" }; key: string }[] = [];
    for (;;) {
      ws();
      const c = input[pos];
      let v: JsonValue;
      if (c === "[" || c === "{") {
        // Go's scanner allows 10,000 nested arrays and objects.
        if (open.length >= MAX_DEPTH) fail("exceeded max depth");
        pos++;
        ws();
        const container: JsonValue & { kind: "array" | "object" } = c === "[" ? { kind: "array", items: [] } : { kind: "object", entries: [] };
        if (input[pos] !== (c === "[" ? "]" : "}")) {
          open.push({ container, key: c === "{" ? key() : "" });
          continue;
        }
        pos++;
        v = container;
      } else {
        v = scalar(c);
      }
      // v is complete: add it to the innermost container, closing those that end here.
      for (;;) {
        const top = open[open.length - 1];
        if (!top) return v;
        const { container } = top;
        if (container.kind === "array") container.items.push(v);
        else container.entries.push([top.key, v]);
        ws();
        if (input[pos] === ",") {
          pos++;
          if (container.kind === "object") top.key = key();
          break;
        }
        if (input[pos] !== (container.kind === "array" ? "]" : "}")) {
          fail(container.kind === "array" ? "after array element" : "after object key:value pair");
        }
        pos++;
        open.pop();
        v = container;
      }
    }
  };
  const scalar = (c: string | undefined): JsonValue => {
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
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return number();
    return fail("looking for beginning of value");
  };
  const isDigit = () => {
    const d = input.charCodeAt(pos);
    return d >= 0x30 && d <= 0x39;
  };
  // Scanned by hand, in one pass of any length, with the Go scanner's messages.
  const number = (): JsonValue => {
    const start = pos;
    if (input[pos] === "-") {
      pos++;
      if (!isDigit()) fail("in numeric literal");
    }
    if (input[pos] === "0") pos++;
    else while (isDigit()) pos++;
    if (input[pos] === ".") {
      pos++;
      if (!isDigit()) fail("after decimal point in numeric literal");
      while (isDigit()) pos++;
    }
    if (input[pos] === "e" || input[pos] === "E") {
      pos++;
      if (input[pos] === "+" || input[pos] === "-") pos++;
      if (!isDigit()) fail("in exponent of numeric literal");
      while (isDigit()) pos++;
    }
    return { kind: "number", raw: input.slice(start, pos) };
  };
  const string = (): string => {
    pos++; // opening quote
    // Most strings (base64, ids, hex) hold no escape and no control character: found by native
    // scans of just this string, so the work stays linear whatever the input.
    const close = input.indexOf('"', pos);
    if (close >= 0) {
      const body = input.slice(pos, close);
      if (!body.includes("\\") && !CONTROL.test(body)) {
        pos = close + 1;
        return body.toWellFormed();
      }
    }
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
  const result = value();
  if (mode === "unmarshal") {
    ws();
    if (pos < input.length) fail("after top-level value");
  }
  return result;
}

/** Printable ASCII that neither JSON nor Go's HTML-safe escaping changes. */
const PLAIN = /^[ !#-%'-;=?-[\]-~]*$/;

/** Go's json.Marshal string escaping: JSON.stringify plus <, >, &, U+2028, U+2029 as \u escapes. */
export function goJsonString(s: string): string {
  if (PLAIN.test(s)) return `"${s}"`;
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}
