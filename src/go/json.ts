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
  return new GoJsonParser(input, mode).parse();
}

const ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
const HEX4 = /^[0-9a-fA-F]{4}$/;

/** One parse; a class rather than closures, as it runs for every request. */
class GoJsonParser {
  private pos = 0;

  constructor(
    private readonly input: string,
    private readonly mode: "decoder" | "unmarshal",
  ) {}

  parse(): JsonValue {
    this.ws();
    if (this.pos >= this.input.length) throw new JsonSyntaxError(this.mode === "decoder" ? "EOF" : "unexpected end of JSON input");
    const result = this.value();
    if (this.mode === "unmarshal") {
      this.ws();
      if (this.pos < this.input.length) this.fail("after top-level value");
    }
    return result;
  }

  private ws(): void {
    const { input } = this;
    while (this.pos < input.length) {
      const c = input.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.pos++;
      else break;
    }
  }

  private fail(what: string): never {
    if (this.pos >= this.input.length) throw new JsonSyntaxError(this.mode === "decoder" ? "unexpected EOF" : "unexpected end of JSON input");
    throw new JsonSyntaxError(`invalid character ${quoteChar(this.input[this.pos]!)} ${what}`);
  }

  private key(): string {
    this.ws();
    if (this.input[this.pos] !== '"') this.fail("looking for beginning of object key string");
    const k = this.string();
    this.ws();
    if (this.input[this.pos] !== ":") this.fail("after object key");
    this.pos++;
    return k;
  }

  /**
   * One value, with an explicit stack of the open arrays and objects rather than recursion, so
   * nesting to Go's limit cannot overflow the call stack.
   */
  private value(): JsonValue {
    const { input } = this;
    const open: { container: JsonValue & { kind: "array" | "object" }; key: string }[] = [];
    for (;;) {
      this.ws();
      const c = input[this.pos];
      let v: JsonValue;
      if (c === "[" || c === "{") {
        // Go's scanner allows 10,000 nested arrays and objects.
        if (open.length >= MAX_DEPTH) this.fail("exceeded max depth");
        this.pos++;
        this.ws();
        const container: JsonValue & { kind: "array" | "object" } = c === "[" ? { kind: "array", items: [] } : { kind: "object", entries: [] };
        if (input[this.pos] !== (c === "[" ? "]" : "}")) {
          open.push({ container, key: c === "{" ? this.key() : "" });
          continue;
        }
        this.pos++;
        v = container;
      } else {
        v = this.scalar(c);
      }
      // v is complete: add it to the innermost container, closing those that end here.
      for (;;) {
        const top = open[open.length - 1];
        if (!top) return v;
        const { container } = top;
        if (container.kind === "array") container.items.push(v);
        else container.entries.push([top.key, v]);
        this.ws();
        if (input[this.pos] === ",") {
          this.pos++;
          if (container.kind === "object") top.key = this.key();
          break;
        }
        if (input[this.pos] !== (container.kind === "array" ? "]" : "}")) {
          this.fail(container.kind === "array" ? "after array element" : "after object key:value pair");
        }
        this.pos++;
        open.pop();
        v = container;
      }
    }
  }

  private scalar(c: string | undefined): JsonValue {
    const { input } = this;
    if (c === '"') return { kind: "string", value: this.string() };
    if (input.startsWith("true", this.pos)) {
      this.pos += 4;
      return { kind: "bool", value: true };
    }
    if (input.startsWith("false", this.pos)) {
      this.pos += 5;
      return { kind: "bool", value: false };
    }
    if (input.startsWith("null", this.pos)) {
      this.pos += 4;
      return { kind: "null" };
    }
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return this.number();
    return this.fail("looking for beginning of value");
  }

  private isDigit(): boolean {
    const d = this.input.charCodeAt(this.pos);
    return d >= 0x30 && d <= 0x39;
  }

  /** Scanned by hand, in one pass of any length, with the Go scanner's messages. */
  private number(): JsonValue {
    const { input } = this;
    const start = this.pos;
    if (input[this.pos] === "-") {
      this.pos++;
      if (!this.isDigit()) this.fail("in numeric literal");
    }
    if (input[this.pos] === "0") this.pos++;
    else while (this.isDigit()) this.pos++;
    if (input[this.pos] === ".") {
      this.pos++;
      if (!this.isDigit()) this.fail("after decimal point in numeric literal");
      while (this.isDigit()) this.pos++;
    }
    if (input[this.pos] === "e" || input[this.pos] === "E") {
      this.pos++;
      if (input[this.pos] === "+" || input[this.pos] === "-") this.pos++;
      if (!this.isDigit()) this.fail("in exponent of numeric literal");
      while (this.isDigit()) this.pos++;
    }
    return { kind: "number", raw: input.slice(start, this.pos) };
  }

  private string(): string {
    const { input } = this;
    this.pos++; // opening quote
    // Most strings (base64, ids, hex) hold no escape and no control character: found by native
    // scans of just this string, so the work stays linear whatever the input.
    const close = input.indexOf('"', this.pos);
    if (close >= 0) {
      const body = input.slice(this.pos, close);
      if (!body.includes("\\") && !CONTROL.test(body)) {
        this.pos = close + 1;
        return body.toWellFormed();
      }
    }
    let out = "";
    let start = this.pos;
    for (;;) {
      if (this.pos >= input.length) this.fail("unterminated string");
      const c = input.charCodeAt(this.pos);
      if (c === 0x22) {
        out += input.slice(start, this.pos);
        this.pos++;
        return out.toWellFormed();
      }
      if (c < 0x20) this.fail("in string literal");
      if (c === 0x5c) {
        out += input.slice(start, this.pos);
        const e = input[this.pos + 1];
        if (e !== undefined && Object.hasOwn(ESCAPES, e)) {
          out += ESCAPES[e];
          this.pos += 2;
        } else if (e === "u" && HEX4.test(input.slice(this.pos + 2, this.pos + 6))) {
          out += String.fromCharCode(parseInt(input.slice(this.pos + 2, this.pos + 6), 16));
          this.pos += 6;
        } else {
          this.fail("in string escape code");
        }
        start = this.pos;
        continue;
      }
      this.pos++;
    }
  }
}

/** Printable ASCII that neither JSON nor Go's HTML-safe escaping changes. */
const PLAIN = /^[ !#-%'-;=?-[\]-~]*$/;

/** Go's json.Marshal string escaping: JSON.stringify plus <, >, &, U+2028, U+2029 as \u escapes. */
export function goJsonString(s: string): string {
  if (PLAIN.test(s)) return `"${s}"`;
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}
