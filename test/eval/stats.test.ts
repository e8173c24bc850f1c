import { expect } from 'chai';
import { pearson, rankdata, spearman } from '../../src/eval/stats.js';
import { naivePearson } from './helpers/reference-stats.js';

/** Independent textbook implementations (float64, naive sums) to compare against. */
/** average rank = (# strictly smaller) + (# equal + 1) / 2 */
function naiveRanks(x: number[]): number[] {
  return x.map((v) => x.filter((w) => w < v).length + (x.filter((w) => w === v).length + 1) / 2);
}

describe('eval/stats: Pearson and Spearman (scipy semantics)', () => {
  it('ranks ties with their average position', () => {
    expect(Array.from(rankdata([10, 20, 20, 30, 20]))).to.deep.equal([1, 3, 3, 5, 3]);
  });

  it('Spearman with ties matches a hand computation', () => {
    // x = [1,2,2,3] -> ranks [1, 2.5, 2.5, 4]; y = [1,3,2,4] -> ranks [1,3,2,4]
    // deviations from 2.5: dx = [-1.5, 0, 0, 1.5], dy = [-1.5, .5, -.5, 1.5]
    // sum dx*dy = 4.5, sum dx^2 = 4.5, sum dy^2 = 5  ->  rho = 4.5 / sqrt(22.5) = sqrt(0.9)
    expect(spearman([1, 2, 2, 3], [1, 3, 2, 4])).to.be.closeTo(Math.sqrt(0.9), 1e-15);
  });

  it('agrees with independent float64 implementations on tied data', () => {
    let s = 7;
    const rnd = () => (s = (s * 16807) % 2147483647) / 2147483647;
    const x = Array.from({ length: 200 }, () => Math.round(rnd() * 5 * 4) / 4); // many ties
    const y = x.map((v) => v + Math.round(rnd() * 3) - 1.5);
    expect(pearson(x, y)).to.be.closeTo(naivePearson(x, y), 1e-12);
    expect(spearman(x, y)).to.be.closeTo(naivePearson(naiveRanks(x), naiveRanks(y)), 1e-12);
  });

  it('is NaN for constant input and bounded by [-1, 1]', () => {
    expect(pearson([1, 1, 1], [1, 2, 3])).to.be.NaN;
    expect(spearman([1, 2, 3], [5, 5, 5])).to.be.NaN;
    expect(pearson([1, 2, 3], [2, 4, 6])).to.be.closeTo(1, 1e-15);
    expect(pearson([1, 2, 3], [3, 2, 1])).to.be.closeTo(-1, 1e-15);
  });

  it('rejects non-finite values and mismatched lengths', () => {
    expect(() => pearson([1, NaN], [1, 2])).to.throw(/not a finite number/);
    expect(() => spearman([1, 2], [1])).to.throw(/differ in length/);
  });
});
