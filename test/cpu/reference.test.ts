import { expect } from 'chai';
import { erf, erfc, geluExact, l2NormalizeF64, poolF64 } from '../../src/reference/encoder-f64.js';

// erf / erfc values from mpmath at 30 digits.
const ERF: Array<[number, number]> = [
  [-3, -0.99997790950300141456],
  [-1.5, -0.96610514647531072707],
  [-0.7, -0.67780119383741847298],
  [-0.1, -0.1124629160182848922],
  [0, 0.0],
  [1e-5, 0.00001128379167057899935],
  [0.3, 0.32862675945912742764],
  [1, 0.84270079294971486934],
  [1.4999, 0.96609325166229526931],
  [1.5, 0.96610514647531072707],
  [2, 0.99532226501895273416],
  [2.5, 0.99959304798255504106],
  [3.7, 0.99999983284894209085],
  [5.5, 0.99999999999999264215],
];
const ERFC: Array<[number, number]> = [
  [2, 0.0046777349810472658379],
  [4, 1.5417257900280018852e-8],
  [8, 1.122429717298292708e-29],
  [12, 1.3562611692059042128e-64],
];

describe('reference/encoder-f64: erf and GELU', () => {
  it('erf matches high-precision values to 1e-15', () => {
    for (const [x, want] of ERF) expect(Math.abs(erf(x) - want), `erf(${x})`).to.be.at.most(1e-15);
  });

  it('erfc keeps relative precision in the tail', () => {
    for (const [x, want] of ERFC) expect(Math.abs(erfc(x) - want) / want, `erfc(${x})`).to.be.below(1e-13);
  });

  it('erf is odd, monotone and continuous across the series / continued-fraction switch', () => {
    let prev = -1;
    for (let x = -7; x <= 7; x += 0.001) {
      const v = erf(x);
      expect(v).to.be.at.least(prev);
      expect(erf(-x)).to.equal(-v);
      prev = v;
    }
    const h = 1e-9;
    const slope = (erf(1.5 + h) - erf(1.5 - h)) / (2 * h);
    expect(slope).to.be.closeTo((2 / Math.sqrt(Math.PI)) * Math.exp(-2.25), 1e-6);
  });

  it('geluExact is x·Φ(x)', () => {
    expect(geluExact(0)).to.equal(0);
    expect(geluExact(1)).to.be.closeTo(0.8413447460685429, 1e-15); // Φ(1)
    expect(geluExact(-1)).to.be.closeTo(-0.15865525393145707, 1e-15);
    expect(geluExact(10)).to.equal(10);
  });

  it('pooling helpers: mean skips prompt tokens, normalise gives unit norm', () => {
    const h = Float64Array.from([1, 2, 3, 4, 5, 6]); // 3 tokens × 2
    expect(Array.from(poolF64(h, 3, 2, 'cls'))).to.deep.equal([1, 2]);
    expect(Array.from(poolF64(h, 3, 2, 'last'))).to.deep.equal([5, 6]);
    expect(Array.from(poolF64(h, 3, 2, 'mean'))).to.deep.equal([3, 4]);
    expect(Array.from(poolF64(h, 3, 2, 'mean', 1))).to.deep.equal([4, 5]);
    expect(Array.from(poolF64(h, 3, 2, 'mean', 9))).to.deep.equal([5, 6]);
    const n = l2NormalizeF64(Float64Array.from([3, 4]));
    expect(n[0]).to.be.closeTo(0.6, 1e-15);
    expect(n[1]).to.be.closeTo(0.8, 1e-15);
  });
});
