import { expect } from 'chai';
import { compareCodePoints, npStd, npSum, pyFloatRepr, pyRound, pySum, roundHalfEven, stableArgsort, trapezoid } from '../../src/eval/numeric.js';

describe('eval/numeric: Python and NumPy arithmetic', () => {
  it('pyRound rounds the exact binary value, ties to even (Python round)', () => {
    // 0.015625 = 1/64 is exact, so it is a true tie at 5 decimals: Python gives 0.01562 (even)
    expect(pyRound(0.015625, 5)).to.equal(0.01562);
    expect(pyRound(-0.015625, 5)).to.equal(-0.01562);
    // 0.125 exact: tie at 2 decimals -> 0.12; 0.375 -> 0.38
    expect(pyRound(0.125, 2)).to.equal(0.12);
    expect(pyRound(0.375, 2)).to.equal(0.38);
    // 2.675 is stored as 2.67499999999999982236431605997495353221893310546875 -> 2.67
    expect(pyRound(2.675, 2)).to.equal(2.67);
    expect(pyRound(1 / 3, 5)).to.equal(0.33333);
    expect(pyRound(0.123456789, 6)).to.equal(0.123457);
    expect(pyRound(NaN, 5)).to.be.NaN;
    expect(pyRound(1, 5)).to.equal(1);
  });

  it('roundHalfEven is Python round() to an integer', () => {
    expect([0.5, 1.5, 2.5, 180.5, 2.4999, 2.5001, -0.5, -1.5].map(roundHalfEven)).to.deep.equal([0, 2, 2, 180, 2, 3, 0, -2]);
  });

  it('pySum compensates like Python >= 3.12 sum()', () => {
    // naive left-to-right addition loses the 1.0: (1e16 + 1) - 1e16 = 0
    expect(1e16 + 1 - 1e16).to.equal(0);
    expect(pySum([1e16, 1, -1e16])).to.equal(1);
    expect(pySum([0.1, 0.2, 0.3])).to.equal(0.6); // naive: 0.6000000000000001
    expect(pySum([])).to.equal(0);
  });

  it('npSum adds short arrays left to right and longer ones with 8 accumulators', () => {
    const a = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
    let seq = 0;
    for (const x of a) seq += x;
    expect(npSum(a)).to.equal(seq);
    // n = 9: ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) with r_i = a_i, then + a8
    const b = [1e16, 1, -1e16, 1, 0, 0, 0, 0, 1];
    const expected = 1e16 + 1 + (-1e16 + 1) + (0 + 0 + (0 + 0)) + 1;
    expect(npSum(b)).to.equal(expected);
  });

  it('npStd is the population standard deviation', () => {
    // values 2,4,4,4,5,5,7,9: mean 5, squared deviations sum 32, /8 = 4, sqrt = 2
    expect(npStd([2, 4, 4, 4, 5, 5, 7, 9])).to.equal(2);
    expect(npStd([3])).to.equal(0);
  });

  it('trapezoid integrates piecewise-linear curves', () => {
    // y = x on [0, 1] sampled at 0, .5, 1 -> 0.5
    expect(trapezoid([0, 0.5, 1], [0, 0.5, 1])).to.equal(0.5);
  });

  it('stableArgsort keeps equal keys in input order', () => {
    expect(Array.from(stableArgsort([3, 1, 2, 1, 3]))).to.deep.equal([1, 3, 2, 0, 4]);
  });

  it('pyFloatRepr writes floats as Python repr does', () => {
    const cases: Array<[number, string]> = [
      [1, '1.0'],
      [0, '0.0'],
      [0.1, '0.1'],
      [1e-5, '1e-05'],
      [0.0001, '0.0001'],
      [1e16, '1e+16'],
      [123456789012345.6, '123456789012345.6'],
      [-2.5e-7, '-2.5e-07'],
      [0.30000000000000004, '0.30000000000000004'],
      [NaN, 'NaN'],
      [Infinity, 'Infinity'],
    ];
    for (const [x, s] of cases) expect(pyFloatRepr(x), String(x)).to.equal(s);
  });

  it('compareCodePoints orders astral characters after U+E000..U+FFFF (Python/strcmp order)', () => {
    const astral = '\u{1F600}'; // surrogate pair D83D DE00
    const bmpHigh = '\uFF01';
    expect(astral < bmpHigh).to.equal(true); // UTF-16 code units disagree with code points
    expect(compareCodePoints(astral, bmpHigh)).to.be.greaterThan(0);
    expect(compareCodePoints('d10', 'd9')).to.be.lessThan(0);
    expect(compareCodePoints('ab', 'a')).to.be.greaterThan(0);
  });
});
