/**
 * Declarative Go struct decoding on top of parseGoJson: a format names its fields once
 * (`goStruct("server.RemotePaymentRequest", { app: ["app", goString], … })`) and
 * readGoStruct applies encoding/json's rules: object keys are matched to fields
 * case-insensitively (Go's fold, so "ſ" matches "s") and decoded in document order, unknown keys
 * are ignored, a repeated key decodes again into the same field (a repeated object merges), null
 * resets pointers and slices and leaves other fields as they were, and the first type error in
 * document order is the one reported, in Go's words.
 */
import { ownString, plainView } from "../crypto/bytes.js";
import { INT64_MAX, INT64_MIN, UINT32_MAX, UINT64_MAX } from "./int64.js";
import { JsonSyntaxError, JsonTypeError, type JsonValue } from "./json.js";

type Present = Exclude<JsonValue, { kind: "null" }>;

/**
 * Where a value sits, for Go's error text: the innermost struct's name and the field path, kept
 * as a link to the parent so that decoding a field allocates no path unless an error names it.
 */
export interface Where {
  struct: string;
  parent: Where | undefined;
  /** The JSON key of this field; "" at the top. */
  key: string;
}

/** One decoding run: Go keeps going after a type error and reports the first (saveError). */
class Decoding {
  first: Error | undefined;
  save(err: Error): void {
    this.first ??= err;
  }
}

export interface GoType<T> {
  /** The Go type as its error messages name it ("int64", "[]uint8", "server.RemotePaymentStateSig"). */
  readonly goName: string;
  /** Pointers and slices: null sets nil (undefined). Otherwise null leaves the value as it was. */
  readonly nullable?: boolean;
  /** A type that refuses null outright (a custom UnmarshalJSON). */
  decodeNull?(at: Where): never;
  /** Decodes a non-null value; `prev` is the field so far (a repeated key decodes into it). */
  decode(v: Present, at: Where, run: Decoding, prev: T | undefined): T | undefined;
}

function fieldLabel(at: Where): string {
  const path: string[] = [];
  for (let w: Where | undefined = at; w?.parent; w = w.parent) path.unshift(w.key);
  return path.length === 0 ? "" : `${at.struct}.${path.join(".")}`;
}

/** Records Go's UnmarshalTypeError and leaves the value unchanged. */
function mismatch<T>(run: Decoding, at: Where, goName: string, got: string, prev: T | undefined): T | undefined {
  run.save(new JsonTypeError(fieldLabel(at), goName, got));
  return prev;
}

function kindName(v: Present): string {
  return v.kind;
}

function decodeValue<T>(type: GoType<T>, v: JsonValue, at: Where, run: Decoding, prev: T | undefined): T | undefined {
  if (v.kind !== "null") return type.decode(v, at, run, prev);
  if (type.decodeNull) type.decodeNull(at);
  return type.nullable ? undefined : prev;
}

export const goString: GoType<string> = {
  goName: "string",
  decode: (v, at, run, prev) => (v.kind === "string" ? v.value : mismatch(run, at, "string", kindName(v), prev)),
};

function goInteger(goName: string, min: bigint, max: bigint): GoType<bigint> {
  return {
    goName,
    decode(v, at, run, prev) {
      if (v.kind !== "number") return mismatch(run, at, goName, kindName(v), prev);
      // Go parses unsigned fields without a sign: "-0" is an error there.
      if (!/^-?\d+$/.test(v.raw) || (min >= 0n && v.raw.startsWith("-"))) return mismatch(run, at, goName, `number ${v.raw}`, prev);
      // Longer than any 64-bit value: out of range without converting (that is superlinear).
      if (v.raw.length > 21) return mismatch(run, at, goName, `number ${v.raw}`, prev);
      const n = BigInt(v.raw);
      return n < min || n > max ? mismatch(run, at, goName, `number ${v.raw}`, prev) : n;
    },
  };
}

export const goInt64 = goInteger("int64", INT64_MIN, INT64_MAX);
/** Go's int on the 64-bit platforms go-livepeer ships for. */
export const goInt = goInteger("int", INT64_MIN, INT64_MAX);
export const goUint8 = goInteger("uint8", 0n, 255n);
export const goUint32 = goInteger("uint32", 0n, UINT32_MAX);
export const goUint64 = goInteger("uint64", 0n, UINT64_MAX);

/** float32: any number literal whose value fits (the number itself is not kept). */
export const goFloat32: GoType<number> = {
  goName: "float32",
  decode(v, at, run, prev) {
    if (v.kind !== "number") return mismatch(run, at, "float32", kindName(v), prev);
    const x = Math.fround(Number(v.raw));
    return Number.isFinite(x) ? x : mismatch(run, at, "float32", `number ${v.raw}`, prev);
  },
};

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** json.Number: a number literal kept as text, or a string holding one. */
export const goNumber: GoType<string> = {
  goName: "json.Number",
  decode(v, at, run, prev) {
    if (v.kind === "number") return v.raw;
    if (v.kind !== "string") return mismatch(run, at, "json.Number", kindName(v), prev);
    if (NUMBER.test(v.value)) return v.value;
    // Not a saved error in Go: it stops the decoding here.
    throw new JsonSyntaxError(`json: invalid number literal, trying to unmarshal ${JSON.stringify(JSON.stringify(v.value))} into Number`);
  },
};

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Where Go's base64 decoder reports the error: the first byte that breaks the alphabet or padding. */
function base64ErrorOffset(text: string): number {
  const bad = text.search(/[^A-Za-z0-9+/=]/);
  const pad = text.indexOf("=");
  if (bad >= 0 && (pad < 0 || bad < pad)) return bad;
  if (pad >= 0) return pad;
  return text.length - (text.length % 4);
}

/**
 * Whether `bytes`, Node's decoding of `text` (a multiple of 4 characters long), means the text is
 * valid padded standard base64, with no string built to check it (a state's text is 600
 * characters on every call). Node's decoder also reads base64url's '-' and '_', reads a UTF-16 unit
 * by its low byte, skips any other character and stops at the first '='; so an ASCII text
 * without '-' or '_' decodes to its full length (3 bytes per 4 characters, less the padding) only
 * when every character before the padding is in the alphabet. Nonzero trailing bits, which Go's
 * decoder accepts too, decode as the pattern's path would.
 */
function decodedWhole(text: string, bytes: Uint8Array): boolean {
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return (
    bytes.length === (text.length / 4) * 3 - pad &&
    Buffer.byteLength(text, "utf8") === text.length &&
    !text.includes("-") &&
    !text.includes("_")
  );
}

/** []byte: standard padded base64 (CR and LF ignored), or, as for any slice, an array of uint8. */
export const goBytes: GoType<Uint8Array> = {
  goName: "[]uint8",
  nullable: true,
  decode(v, at, run, prev) {
    if (v.kind === "array") {
      const out = new Uint8Array(v.items.length);
      v.items.forEach((item, i) => {
        out[i] = Number(decodeValue(goUint8, item, at, run, 0n) ?? 0n);
      });
      return out;
    }
    if (v.kind !== "string") return mismatch(run, at, "[]uint8", kindName(v), prev);
    const text = v.value.includes("\r") || v.value.includes("\n") ? v.value.replace(/[\r\n]/g, "") : v.value;
    // Valid base64 (what every encoder writes) is known by what Node's decoder made of it, much
    // cheaper than the pattern; anything else is judged by the pattern.
    if (text.length % 4 === 0) {
      const bytes = decodeBase64(text);
      if (decodedWhole(text, bytes)) return bytes;
    }
    if (!BASE64.test(text)) {
      run.save(new JsonSyntaxError(`illegal base64 data at input byte ${base64ErrorOffset(text)}`));
      return prev;
    }
    return decodeBase64(text);
  },
};

/**
 * Valid padded base64, decoded into Node's shared pool (see pooledBytes): a request's bytes die
 * with it, and an ArrayBuffer of their own would be one more for the scavenger to sweep. What is
 * kept (goBytesRemembered) is copied.
 */
function decodeBase64(text: string): Uint8Array {
  return plainView(Buffer.from(text, "base64"));
}

/**
 * goBytes that remembers the bytes of its last `capacity` texts of `minLength` to `maxLength`
 * characters, and gives back the same array for the same text: a gateway sends the same
 * OrchestratorInfo on every call of a session, so its check and decode, and whatever a caller
 * keys on the array, are done once. The length bound keeps what is held small whatever clients
 * send. The arrays are shared: callers must not modify them.
 */
export function goBytesRemembered(capacity: number, { minLength = 256, maxLength = 16_384 } = {}): GoType<Uint8Array> {
  const byText = new Map<string, Uint8Array>();
  return {
    ...goBytes,
    decode(v, at, run, prev) {
      if (v.kind !== "string" || v.value.length < minLength || v.value.length > maxLength) return goBytes.decode(v, at, run, prev);
      const known = byText.get(v.value);
      if (known) return known;
      const first = run.first;
      const bytes = goBytes.decode(v, at, run, prev);
      if (bytes === undefined || run.first !== first) return bytes;
      if (byText.size >= capacity) byText.delete(byText.keys().next().value!);
      // A copy of the text as the key: the parsed one may be a slice that keeps the whole request
      // body alive. Valid base64 is ASCII, so well-formed. The bytes are copied out of the pool.
      const kept = bytes.slice();
      byText.set(ownString(v.value), kept);
      return kept;
    },
  };
}

/** *T: as T, but null sets it to nil. */
export function goPointer<T>(type: GoType<T>): GoType<T> {
  return { ...type, nullable: true };
}

/** []T: a JSON array, each element decoded as T (a null element is T's zero value, undefined). */
export function goSlice<T>(elem: GoType<T>): GoType<(T | undefined)[]> {
  const goName = `[]${elem.goName}`;
  return {
    goName,
    nullable: true,
    decode(v, at, run, prev) {
      if (v.kind !== "array") return mismatch(run, at, goName, kindName(v), prev);
      return v.items.map((item) => decodeValue(elem, item, at, run, undefined));
    },
  };
}

/** A struct's fields: result key → [JSON key, type]. */
export type GoFields = Record<string, readonly [string, GoType<any>]>;
export type GoStructOf<F extends GoFields> = { [K in keyof F]?: F[K][1] extends GoType<infer T> ? T : never };

/** Go's key folding for field matching: ASCII case, plus the two non-ASCII runes that fold into ASCII. */
function foldKey(key: string): string {
  // toLowerCase already maps the Kelvin sign to "k"; the long s stays "ſ" and needs its own fold.
  const lower = key.toLowerCase();
  return lower.includes("\u017f") ? lower.replace(/\u017f/g, "s") : lower;
}

/** A Go struct type, `goName` package-qualified as Go prints it ("server.RemotePaymentStateSig"). */
export function goStruct<F extends GoFields>(goName: string, fields: F): GoType<GoStructOf<F>> {
  const short = goName.slice(goName.lastIndexOf(".") + 1);
  const byKey = new Map<string, [string, string, GoType<unknown>]>();
  for (const [name, [jsonKey, type]] of Object.entries(fields)) byKey.set(jsonKey.toLowerCase(), [name, jsonKey, type]);
  return {
    goName,
    decode(v, at, run, prev) {
      if (v.kind !== "object") return mismatch(run, at, goName, kindName(v), prev);
      const out: Record<string, unknown> = { ...prev };
      for (const [key, value] of v.entries) {
        const field = byKey.get(foldKey(key));
        if (!field) continue;
        const [name, jsonKey, type] = field;
        out[name] = decodeValue(type, value, { struct: short, parent: at, key: jsonKey }, run, out[name]);
      }
      return out as GoStructOf<F>;
    },
  };
}

/**
 * Decodes a parsed JSON value into a Go type (json.Unmarshal into a fresh value): undefined when
 * the value is null. Throws the first JsonTypeError or JsonSyntaxError, as Go reports it.
 */
export function readGoStruct<T>(type: GoType<T>, value: JsonValue): T | undefined {
  const run = new Decoding();
  const out = decodeValue(type, value, { struct: "", parent: undefined, key: "" }, run, undefined);
  if (run.first) throw run.first;
  return out;
}

/** The TypeScript value a GoType decodes to. */
export type GoValue<G> = G extends GoType<infer T> ? T : never;
