import { expect } from 'chai';
import * as ort from 'onnxruntime-node';
import {
  attr,
  DataType,
  encodeModel,
  floatTensor,
  int64Tensor,
  ProtoWriter,
  type ModelSpec,
} from '../../src/backends/cpu/onnx-proto.js';

function concat(chunks: Uint8Array[]): number[] {
  return chunks.flatMap((c) => Array.from(c));
}

describe('cpu/onnx-proto: protobuf writer', () => {
  it('encodes varints, negative int64s and nested messages as protobuf does', () => {
    const w = new ProtoWriter();
    w.int(1, 150); // the protobuf docs' example: 08 96 01
    w.int(3, -1); // int64 −1: ten bytes
    const inner = new ProtoWriter();
    inner.string(1, 'ab');
    w.message(2, inner);
    w.float(4, 1); // fixed32 little-endian 0x3f800000
    expect(concat(w.finish())).to.deep.equal([
      0x08, 0x96, 0x01,
      0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
      0x12, 0x04, 0x0a, 0x02, 0x61, 0x62,
      0x25, 0x00, 0x00, 0x80, 0x3f,
    ]);
  });

  it('passes large payloads through by reference and counts their bytes', () => {
    const big = new Uint8Array(1000).fill(7);
    const w = new ProtoWriter();
    w.bytes(9, big);
    const chunks = w.finish();
    expect(chunks).to.include(big);
    expect(chunks.reduce((s, c) => s + c.byteLength, 0)).to.equal(1 + 2 + 1000);
  });
});

describe('cpu/onnx-proto: models run in onnxruntime-node', () => {
  it('MatMul + Add with symbolic batch dimension gives x·W + b', async () => {
    const W = [1, 2, 3, 4, 5, 6]; // [2, 3]
    const b = [0.5, -1, 2];
    const model: ModelSpec = {
      graph: {
        name: 'mm',
        nodes: [
          { opType: 'MatMul', inputs: ['x', 'W'], outputs: ['xw'] },
          { opType: 'Add', inputs: ['xw', 'b'], outputs: ['y'] },
        ],
        initializers: [floatTensor('W', [2, 3], W), floatTensor('b', [3], b)],
        inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: ['batch', 2] }],
        outputs: [{ name: 'y', elemType: DataType.FLOAT, shape: ['batch', 3] }],
      },
    };
    const session = await ort.InferenceSession.create(encodeModel(model));
    expect(session.inputNames).to.deep.equal(['x']);
    const x = Float32Array.from([1, -2, 0.25, 4]);
    const { y } = await session.run({ x: new ort.Tensor('float32', x, [2, 2]) });
    expect(y.dims).to.deep.equal([2, 3]);
    const want: number[] = [];
    for (let r = 0; r < 2; r++) for (let c = 0; c < 3; c++) want.push(x[2 * r] * W[c] + x[2 * r + 1] * W[3 + c] + b[c]);
    expect(Array.from(y.data as Float32Array)).to.deep.equal(want);
    await session.release();
  });

  it('int, ints, float attributes and int64 initializers (Transpose, Reshape, LayerNormalization, Gather)', async () => {
    const model: ModelSpec = {
      graph: {
        name: 'attrs',
        nodes: [
          { opType: 'Gather', inputs: ['table', 'ids'], outputs: ['g'], attributes: { axis: attr.int(0) } },
          { opType: 'Transpose', inputs: ['g'], outputs: ['t'], attributes: { perm: attr.ints([1, 0, 2]) } },
          { opType: 'Reshape', inputs: ['t', 'shape'], outputs: ['r'] },
          {
            opType: 'LayerNormalization',
            inputs: ['r', 'gamma', 'beta'],
            outputs: ['y'],
            attributes: { axis: attr.int(-1), epsilon: attr.float(1e-5) },
          },
        ],
        initializers: [
          floatTensor('table', [3, 2], [1, 2, 3, 5, -1, 7]),
          int64Tensor('shape', [2], [0, -1]),
          floatTensor('gamma', [4], [1, 2, 3, 4]),
          floatTensor('beta', [4], [0, 0, 0, 1]),
        ],
        inputs: [{ name: 'ids', elemType: DataType.INT64, shape: ['a', 'b'] }],
        outputs: [{ name: 'y', elemType: DataType.FLOAT, shape: ['b', 4] }],
      },
    };
    const session = await ort.InferenceSession.create(encodeModel(model));
    // ids [[2, 0], [1, 1]] → g [2,2,2] → t [2,2,2] (swap first two) → r [2, 4]
    const ids = new ort.Tensor('int64', BigInt64Array.from([2n, 0n, 1n, 1n]), [2, 2]);
    const { y } = await session.run({ ids });
    const table = [[1, 2], [3, 5], [-1, 7]];
    const g = [[table[2], table[0]], [table[1], table[1]]];
    const rows = [0, 1].map((j) => [...g[0][j], ...g[1][j]]);
    const gamma = [1, 2, 3, 4];
    const beta = [0, 0, 0, 1];
    const want = rows.flatMap((r) => {
      const mean = r.reduce((a, v) => a + v, 0) / 4;
      const variance = r.reduce((a, v) => a + (v - mean) ** 2, 0) / 4;
      return r.map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-5)) * gamma[i] + beta[i]);
    });
    expect(y.dims).to.deep.equal([2, 4]);
    const got = Array.from(y.data as Float32Array);
    got.forEach((v, i) => expect(v).to.be.closeTo(want[i], 1e-5));
    await session.release();
  });

  it('onnxruntime rejects a graph that references a missing tensor (the writer is not silently lenient)', async () => {
    const model: ModelSpec = {
      graph: {
        name: 'broken',
        nodes: [{ opType: 'Add', inputs: ['x', 'nope'], outputs: ['y'] }],
        initializers: [],
        inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [1] }],
        outputs: [{ name: 'y', elemType: DataType.FLOAT, shape: [1] }],
      },
    };
    let err: unknown;
    try {
      await ort.InferenceSession.create(encodeModel(model));
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/nope/);
  });
});
