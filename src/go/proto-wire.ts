import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

/** The bytes are not a message Go's proto.Unmarshal would accept as this schema. */
export class ProtoWireError extends Error {
  override name = "ProtoWireError";
}

const utf8Strict = new TextDecoder("utf-8", { fatal: true });

function scalarWireType(t: ScalarType): WireType {
  switch (t) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

function checkScalar(reader: BinaryReader, t: ScalarType, wireType: WireType, name: string): void {
  if (wireType !== scalarWireType(t)) throw new ProtoWireError(`proto: cannot parse invalid wire-format data (field ${name}: wire type ${wireType})`);
  if (t === ScalarType.STRING) {
    try {
      utf8Strict.decode(lengthDelimited(reader));
    } catch (err) {
      if (err instanceof ProtoWireError) throw err;
      throw new ProtoWireError("string field contains invalid UTF-8");
    }
    return;
  }
  reader.skip(wireType);
}

/** The next length-delimited value, bounds-checked (the reader's own bytes() does not check). */
function lengthDelimited(reader: BinaryReader): Uint8Array {
  const at = reader.pos;
  const len = reader.uint32();
  if (reader.pos + len > reader.len) throw new ProtoWireError("proto: cannot parse invalid wire-format data");
  reader.pos = at;
  return reader.bytes();
}

const MAX_DEPTH = 100;

function checkMessage(desc: DescMessage, bytes: Uint8Array, depth: number): void {
  if (depth > MAX_DEPTH) throw new ProtoWireError("proto: exceeded maximum recursion depth");
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo <= 0) throw new ProtoWireError("proto: cannot parse invalid wire-format data");
    const field: DescField | undefined = desc.fields.find((f) => f.number === fieldNo);
    if (!field) {
      if (wireType === WireType.EndGroup) throw new ProtoWireError("proto: cannot parse invalid wire-format data");
      reader.skip(wireType, fieldNo);
      continue;
    }
    const name = `${desc.name}.${field.name}`;
    switch (field.fieldKind) {
      case "scalar":
        checkScalar(reader, field.scalar, wireType, name);
        break;
      case "enum":
        checkScalar(reader, ScalarType.INT32, wireType, name);
        break;
      case "message":
        if (wireType !== WireType.LengthDelimited) throw new ProtoWireError(`proto: cannot parse invalid wire-format data (field ${name}: wire type ${wireType})`);
        checkMessage(field.message, lengthDelimited(reader), depth + 1);
        break;
      case "list":
        if (field.listKind === "message") {
          if (wireType !== WireType.LengthDelimited) throw new ProtoWireError(`proto: cannot parse invalid wire-format data (field ${name}: wire type ${wireType})`);
          checkMessage(field.message, lengthDelimited(reader), depth + 1);
        } else {
          const scalar = field.listKind === "enum" ? ScalarType.INT32 : field.scalar;
          const packable = scalar !== ScalarType.STRING && scalar !== ScalarType.BYTES;
          if (packable && wireType === WireType.LengthDelimited) {
            const packed = new BinaryReader(lengthDelimited(reader));
            while (packed.pos < packed.len) packed.skip(scalarWireType(scalar));
          } else {
            checkScalar(reader, scalar, wireType, name);
          }
        }
        break;
      case "map": {
        if (wireType !== WireType.LengthDelimited) throw new ProtoWireError(`proto: cannot parse invalid wire-format data (field ${name}: wire type ${wireType})`);
        const entry = new BinaryReader(lengthDelimited(reader));
        while (entry.pos < entry.len) {
          const [n, wt] = entry.tag();
          if (n === 1) checkScalar(entry, field.mapKey, wt, `${name} key`);
          else if (n === 2 && field.mapKind === "message") {
            if (wt !== WireType.LengthDelimited) throw new ProtoWireError(`proto: cannot parse invalid wire-format data (field ${name} value: wire type ${wt})`);
            checkMessage(field.message, lengthDelimited(entry), depth + 1);
          } else if (n === 2) checkScalar(entry, field.mapKind === "enum" ? ScalarType.INT32 : field.scalar!, wt, `${name} value`);
          else entry.skip(wt, n);
        }
        break;
      }
    }
  }
  if (reader.pos !== reader.len) throw new ProtoWireError("proto: cannot parse invalid wire-format data");
}

/**
 * Checks bytes the way Go's proto.Unmarshal does before protobuf-es decodes them: well-formed
 * wire data, valid UTF-8 in proto3 strings, and (stricter than Go, which would skip them as
 * unknown) the declared wire type for every known field.
 */
export function checkProtoWire(desc: DescMessage, bytes: Uint8Array): void {
  try {
    checkMessage(desc, bytes, 0);
  } catch (err) {
    if (err instanceof ProtoWireError) throw err;
    throw new ProtoWireError("proto: cannot parse invalid wire-format data");
  }
}
