// A minimal Apache Parquet writer for test fixtures: one row group, flat REQUIRED columns of UTF-8
// strings (BYTE_ARRAY/UTF8) or int64, PLAIN encoding, uncompressed, v1 data pages, metadata in
// the Thrift compact protocol. Written from the Parquet format spec (parquet.thrift).

class CompactWriter {
  private bytes: number[] = [];
  private lastField: number[] = [0];

  get data(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }

  private varint(n: bigint): void {
    let v = n;
    while (v >= 0x80n) {
      this.bytes.push(Number((v & 0x7fn) | 0x80n));
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }

  private zigzag(n: bigint): bigint {
    return n >= 0n ? n << 1n : (-n << 1n) - 1n;
  }

  private fieldHeader(id: number, type: number): void {
    const last = this.lastField[this.lastField.length - 1];
    const delta = id - last;
    if (delta > 0 && delta <= 15) this.bytes.push((delta << 4) | type);
    else {
      this.bytes.push(type);
      this.varint(this.zigzag(BigInt(id)));
    }
    this.lastField[this.lastField.length - 1] = id;
  }

  i32(id: number, v: number): void {
    this.fieldHeader(id, 5);
    this.varint(this.zigzag(BigInt(v)));
  }

  i64(id: number, v: number | bigint): void {
    this.fieldHeader(id, 6);
    this.varint(this.zigzag(BigInt(v)));
  }

  binary(id: number, v: string): void {
    this.fieldHeader(id, 8);
    const b = Buffer.from(v, 'utf8');
    this.varint(BigInt(b.length));
    for (const x of b) this.bytes.push(x);
  }

  structBegin(id: number): void {
    this.fieldHeader(id, 12);
    this.lastField.push(0);
  }

  structEnd(): void {
    this.bytes.push(0);
    this.lastField.pop();
  }

  /** list<struct>: call `each` for every element between begin and end of the element struct. */
  listOfStructs<T>(id: number, items: T[], each: (w: CompactWriter, item: T) => void): void {
    this.fieldHeader(id, 9);
    this.listHeader(items.length, 12);
    for (const it of items) {
      this.lastField.push(0);
      each(this, it);
      this.bytes.push(0);
      this.lastField.pop();
    }
  }

  listOfI32(id: number, items: number[]): void {
    this.fieldHeader(id, 9);
    this.listHeader(items.length, 5);
    for (const v of items) this.varint(this.zigzag(BigInt(v)));
  }

  listOfStrings(id: number, items: string[]): void {
    this.fieldHeader(id, 9);
    this.listHeader(items.length, 8);
    for (const v of items) {
      const b = Buffer.from(v, 'utf8');
      this.varint(BigInt(b.length));
      for (const x of b) this.bytes.push(x);
    }
  }

  private listHeader(size: number, elemType: number): void {
    if (size < 15) this.bytes.push((size << 4) | elemType);
    else {
      this.bytes.push(0xf0 | elemType);
      this.varint(BigInt(size));
    }
  }

  stop(): void {
    this.bytes.push(0);
  }
}

export type Column = { name: string; type: 'string'; values: string[] } | { name: string; type: 'int64'; values: number[] };

const TYPE_INT64 = 2;
const TYPE_BYTE_ARRAY = 6;
const CONVERTED_UTF8 = 0;
const REQUIRED = 0;

function plainValues(c: Column): Uint8Array {
  const parts: Buffer[] = [];
  if (c.type === 'string') {
    for (const v of c.values) {
      const b = Buffer.from(v, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      parts.push(len, b);
    }
  } else {
    for (const v of c.values) {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(BigInt(v));
      parts.push(b);
    }
  }
  return Buffer.concat(parts);
}

/** The bytes of a parquet file holding `columns` (all of equal length). */
export function writeParquet(columns: Column[]): Uint8Array {
  const n = columns[0]?.values.length ?? 0;
  for (const c of columns) if (c.values.length !== n) throw new Error('columns differ in length');
  const chunks: Buffer[] = [Buffer.from('PAR1')];
  let offset = 4;
  const metas: Array<{ c: Column; offset: number; size: number }> = [];
  for (const c of columns) {
    const values = plainValues(c);
    const h = new CompactWriter();
    h.i32(1, 0); // PageType.DATA_PAGE
    h.i32(2, values.length);
    h.i32(3, values.length);
    h.structBegin(5); // DataPageHeader
    h.i32(1, n);
    h.i32(2, 0); // PLAIN
    h.i32(3, 3); // RLE
    h.i32(4, 3); // RLE
    h.structEnd();
    h.stop();
    const header = h.data;
    const size = header.length + values.length;
    metas.push({ c, offset, size });
    chunks.push(Buffer.from(header), Buffer.from(values));
    offset += size;
  }
  const m = new CompactWriter();
  m.i32(1, 1); // version
  const schema = [{ root: true as const }, ...columns.map((c) => ({ root: false as const, c }))];
  m.listOfStructs(2, schema, (w, s) => {
    if (s.root) {
      w.binary(4, 'schema');
      w.i32(5, columns.length);
    } else {
      w.i32(1, s.c.type === 'string' ? TYPE_BYTE_ARRAY : TYPE_INT64);
      w.i32(3, REQUIRED);
      w.binary(4, s.c.name);
      if (s.c.type === 'string') w.i32(6, CONVERTED_UTF8);
    }
  });
  m.i64(3, n);
  m.listOfStructs(4, [0], (w) => {
    w.listOfStructs(1, metas, (w2, cm) => {
      w2.i64(2, cm.offset);
      w2.structBegin(3); // ColumnMetaData
      w2.i32(1, cm.c.type === 'string' ? TYPE_BYTE_ARRAY : TYPE_INT64);
      w2.listOfI32(2, [0]); // PLAIN
      w2.listOfStrings(3, [cm.c.name]);
      w2.i32(4, 0); // UNCOMPRESSED
      w2.i64(5, n);
      w2.i64(6, cm.size);
      w2.i64(7, cm.size);
      w2.i64(9, cm.offset);
      w2.structEnd();
    });
    w.i64(2, metas.reduce((a, b) => a + b.size, 0));
    w.i64(3, n);
  });
  m.binary(6, 'embedrank test parquet writer');
  m.stop();
  const footer = Buffer.from(m.data);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(footer.length);
  chunks.push(footer, len, Buffer.from('PAR1'));
  return Buffer.concat(chunks);
}
