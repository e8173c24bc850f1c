// A minimal protobuf encoder for the parts of ONNX's ModelProto that an inference graph needs, so
// embedrank can export models to ONNX without Python. Field numbers follow onnx/onnx.proto:
//
//   ModelProto:         ir_version=1 producer_name=2 producer_version=3 domain=4 model_version=5
//                       doc_string=6 graph=7 opset_import=8 metadata_props=14
//   OperatorSetIdProto: domain=1 version=2
//   GraphProto:         node=1 name=2 initializer=5 doc_string=10 input=11 output=12 value_info=13
//   NodeProto:          input=1 output=2 name=3 op_type=4 attribute=5 doc_string=6 domain=7
//   AttributeProto:     name=1 f=2 i=3 s=4 t=5 g=6 floats=7 ints=8 strings=9 type=20
//   TensorProto:        dims=1 data_type=2 name=8 raw_data=9 external_data=13 data_location=14
//   StringStringEntryProto: key=1 value=2
//   ValueInfoProto:     name=1 type=2 doc_string=3
//   TypeProto:          tensor_type=1 (TypeProto.Tensor: elem_type=1 shape=2)
//   TensorShapeProto:   dim=1 (Dimension: dim_value=1 dim_param=2)
//
// Messages are encoded into lists of chunks: tensor payloads are referenced, never copied, until
// the final concatenation (or a streamed write to a file).

/** TensorProto.DataType. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  BFLOAT16: 16,
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType. */
const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

/** Protobuf refuses to parse messages of 2 GiB or more. */
export const PROTOBUF_MAX_BYTES = 2 ** 31 - 1;

export interface ExternalLocation {
  /** File name relative to the directory of the .onnx file. */
  location: string;
  offset: number;
  length: number;
}

export interface TensorSpec {
  name: string;
  dataType: DataType;
  dims: number[];
  /** Little-endian element bytes (TensorProto.raw_data). Exactly one of rawData / external. */
  rawData?: Uint8Array;
  /** Data stored in a side file (TensorProto.external_data, data_location = EXTERNAL). */
  external?: ExternalLocation;
}

export type AttributeValue =
  | { type: 'int'; value: number | bigint }
  | { type: 'float'; value: number }
  | { type: 'string'; value: string }
  | { type: 'ints'; value: Array<number | bigint> }
  | { type: 'floats'; value: number[] }
  | { type: 'strings'; value: string[] }
  | { type: 'tensor'; value: TensorSpec }
  | { type: 'graph'; value: GraphSpec };

/** Attribute constructors: `{ axis: attr.int(-1), epsilon: attr.float(1e-12) }`. */
export const attr = {
  int: (value: number | bigint): AttributeValue => ({ type: 'int', value }),
  float: (value: number): AttributeValue => ({ type: 'float', value }),
  string: (value: string): AttributeValue => ({ type: 'string', value }),
  ints: (value: Array<number | bigint>): AttributeValue => ({ type: 'ints', value }),
  floats: (value: number[]): AttributeValue => ({ type: 'floats', value }),
  strings: (value: string[]): AttributeValue => ({ type: 'strings', value }),
  tensor: (value: TensorSpec): AttributeValue => ({ type: 'tensor', value }),
  graph: (value: GraphSpec): AttributeValue => ({ type: 'graph', value }),
};

export interface NodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  /** Operator set domain; '' (default) is ai.onnx. */
  domain?: string;
  attributes?: Record<string, AttributeValue>;
}

/** A tensor type: element type plus shape, each dimension a size or a symbolic name. */
export interface ValueInfoSpec {
  name: string;
  elemType: DataType;
  /** Omit for an unknown rank. */
  shape?: Array<number | string>;
}

export interface GraphSpec {
  name: string;
  nodes: NodeSpec[];
  initializers: TensorSpec[];
  inputs: ValueInfoSpec[];
  outputs: ValueInfoSpec[];
  valueInfo?: ValueInfoSpec[];
  docString?: string;
}

export interface ModelSpec {
  /** Default 8 (ONNX 1.10+; onnxruntime 1.10 and later read it). */
  irVersion?: number;
  /** Default [{ domain: '', version: 17 }]. */
  opsetImports?: Array<{ domain: string; version: number }>;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  metadata?: Record<string, string>;
  graph: GraphSpec;
}

// ---------------------------------------------------------------------------------------------
// Wire format

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const utf8 = new TextEncoder();

/** Accumulates one message as a list of chunks; small writes share a scratch buffer. */
export class ProtoWriter {
  readonly chunks: Uint8Array[] = [];
  private scratch = new Uint8Array(256);
  private pos = 0;
  private flushed = 0;

  get byteLength(): number {
    return this.flushed + this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.scratch.length) return;
    this.flush();
    if (n > this.scratch.length) this.scratch = new Uint8Array(Math.max(n, 2 * this.scratch.length));
  }

  private flush(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.scratch.slice(0, this.pos));
    this.flushed += this.pos;
    this.pos = 0;
  }

  /** Unsigned varint of a non-negative safe integer, or any int64 (negatives as two's complement). */
  varint(v: number | bigint): void {
    this.ensure(10);
    if (typeof v === 'number' && v >= 0 && Number.isSafeInteger(v)) {
      while (v >= 0x80) {
        this.scratch[this.pos++] = (v % 0x80) | 0x80;
        v = Math.floor(v / 0x80);
      }
      this.scratch[this.pos++] = v;
      return;
    }
    if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new Error(`protobuf varint: ${v} is not a safe integer`);
    let b = BigInt.asUintN(64, BigInt(v));
    while (b >= 0x80n) {
      this.scratch[this.pos++] = Number(b & 0x7fn) | 0x80;
      b >>= 7n;
    }
    this.scratch[this.pos++] = Number(b);
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, v: number | bigint): void {
    this.tag(field, WIRE_VARINT);
    this.varint(v);
  }

  float(field: number, v: number): void {
    this.tag(field, WIRE_I32);
    this.ensure(4);
    new DataView(this.scratch.buffer, this.scratch.byteOffset).setFloat32(this.pos, v, true);
    this.pos += 4;
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(data.byteLength);
    if (data.byteLength <= 64) {
      this.ensure(data.byteLength);
      this.scratch.set(data, this.pos);
      this.pos += data.byteLength;
    } else {
      this.flush();
      this.chunks.push(data); // referenced, not copied
      this.flushed += data.byteLength;
    }
  }

  string(field: number, s: string): void {
    this.bytes(field, utf8.encode(s));
  }

  message(field: number, m: ProtoWriter): void {
    m.flush();
    this.tag(field, WIRE_LEN);
    this.varint(m.byteLength);
    this.flush();
    for (const c of m.chunks) this.chunks.push(c);
    this.flushed += m.byteLength;
  }

  /** The finished chunks (the writer must not be used afterwards). */
  finish(): Uint8Array[] {
    this.flush();
    return this.chunks;
  }
}

// ---------------------------------------------------------------------------------------------
// ONNX messages

function writeStringEntry(key: string, value: string): ProtoWriter {
  const w = new ProtoWriter();
  w.string(1, key);
  w.string(2, value);
  return w;
}

export function encodeTensor(t: TensorSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  if (t.external) {
    if (t.rawData) throw new Error(`tensor ${t.name}: both raw data and an external location`);
    w.message(13, writeStringEntry('location', t.external.location));
    w.message(13, writeStringEntry('offset', String(t.external.offset)));
    w.message(13, writeStringEntry('length', String(t.external.length)));
    w.int(14, 1); // DataLocation.EXTERNAL
  } else {
    if (!t.rawData) throw new Error(`tensor ${t.name}: no data`);
    w.bytes(9, t.rawData);
  }
  return w;
}

function encodeValueInfo(v: ValueInfoSpec): ProtoWriter {
  const tensorType = new ProtoWriter();
  tensorType.int(1, v.elemType);
  if (v.shape) {
    const shape = new ProtoWriter();
    for (const d of v.shape) {
      const dim = new ProtoWriter();
      if (typeof d === 'number') dim.int(1, d);
      else dim.string(2, d);
      shape.message(1, dim);
    }
    tensorType.message(2, shape);
  }
  const type = new ProtoWriter();
  type.message(1, tensorType);
  const w = new ProtoWriter();
  w.string(1, v.name);
  w.message(2, type);
  return w;
}

function encodeAttribute(name: string, a: AttributeValue): ProtoWriter {
  const w = new ProtoWriter();
  w.string(1, name);
  switch (a.type) {
    case 'float':
      w.float(2, a.value);
      w.int(20, AttrType.FLOAT);
      break;
    case 'int':
      w.int(3, a.value);
      w.int(20, AttrType.INT);
      break;
    case 'string':
      w.string(4, a.value);
      w.int(20, AttrType.STRING);
      break;
    case 'tensor':
      w.message(5, encodeTensor(a.value));
      w.int(20, AttrType.TENSOR);
      break;
    case 'graph':
      w.message(6, encodeGraph(a.value));
      w.int(20, AttrType.GRAPH);
      break;
    case 'floats':
      for (const f of a.value) w.float(7, f);
      w.int(20, AttrType.FLOATS);
      break;
    case 'ints':
      for (const i of a.value) w.int(8, i);
      w.int(20, AttrType.INTS);
      break;
    case 'strings':
      for (const s of a.value) w.string(9, s);
      w.int(20, AttrType.STRINGS);
      break;
  }
  return w;
}

function encodeNode(n: NodeSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, v] of Object.entries(n.attributes ?? {})) w.message(5, encodeAttribute(k, v));
  if (n.domain) w.string(7, n.domain);
  return w;
}

export function encodeGraph(g: GraphSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.message(1, encodeNode(n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, encodeTensor(t));
  if (g.docString) w.string(10, g.docString);
  for (const v of g.inputs) w.message(11, encodeValueInfo(v));
  for (const v of g.outputs) w.message(12, encodeValueInfo(v));
  for (const v of g.valueInfo ?? []) w.message(13, encodeValueInfo(v));
  return w;
}

/** Encodes a ModelProto as a list of chunks (tensor payloads are shared, not copied). */
export function encodeModelChunks(m: ModelSpec): { chunks: Uint8Array[]; byteLength: number } {
  const w = new ProtoWriter();
  w.int(1, m.irVersion ?? 8);
  w.string(2, m.producerName ?? 'embedrank');
  if (m.producerVersion) w.string(3, m.producerVersion);
  if (m.docString) w.string(6, m.docString);
  w.message(7, encodeGraph(m.graph));
  for (const op of m.opsetImports ?? [{ domain: '', version: 17 }]) {
    const o = new ProtoWriter();
    if (op.domain) o.string(1, op.domain);
    o.int(2, op.version);
    w.message(8, o);
  }
  for (const [k, v] of Object.entries(m.metadata ?? {})) w.message(14, writeStringEntry(k, v));
  const byteLength = w.byteLength;
  return { chunks: w.finish(), byteLength };
}

/** Encodes a ModelProto into one buffer. Throws when it would exceed protobuf's 2 GiB limit. */
export function encodeModel(m: ModelSpec): Uint8Array {
  const { chunks, byteLength } = encodeModelChunks(m);
  if (byteLength > PROTOBUF_MAX_BYTES) {
    throw new Error(`ONNX model is ${byteLength} bytes, over protobuf's 2 GiB limit: store the weights as external data`);
  }
  const out = new Uint8Array(byteLength);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tensor helpers

export function bytesOf(a: Float32Array | Int32Array | BigInt64Array | Float64Array | Uint8Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function floatTensor(name: string, dims: number[], data: Float32Array | number[]): TensorSpec {
  const f = data instanceof Float32Array ? data : Float32Array.from(data);
  const numel = dims.reduce((a, b) => a * b, 1);
  if (f.length !== numel) throw new Error(`tensor ${name}: ${f.length} values for shape [${dims}]`);
  return { name, dataType: DataType.FLOAT, dims, rawData: bytesOf(f) };
}

export function int64Tensor(name: string, dims: number[], data: Array<number | bigint>): TensorSpec {
  const numel = dims.reduce((a, b) => a * b, 1);
  if (data.length !== numel) throw new Error(`tensor ${name}: ${data.length} values for shape [${dims}]`);
  return { name, dataType: DataType.INT64, dims, rawData: bytesOf(BigInt64Array.from(data, (v) => BigInt(v))) };
}
