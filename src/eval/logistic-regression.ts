// L2-regularised logistic regression as scikit-learn's LogisticRegression(solver="lbfgs") fits it:
// for two classes one weight vector with the binomial loss, for more the multinomial (softmax)
// loss with one weight vector per class; intercepts unpenalised; the objective is the mean loss
// plus ||W||^2 / (2 C n) (sklearn/linear_model/_logistic.py, _linear_loss.py); minimised by
// L-BFGS (10 corrections, strong-Wolfe line search) stopping, like scipy's L-BFGS-B as sklearn
// calls it, when the largest gradient entry is <= tol, the relative decrease is <= 64 eps, or
// after max_iter iterations. No JavaScript library fits this model (ml-logistic-regression
// trains one-vs-rest by gradient descent), hence this module.
import type { Label } from './classification-metrics.js';

export interface LogisticRegressionOptions {
  /** inverse regularisation strength (sklearn C, default 1) */
  C?: number;
  /** sklearn max_iter (default 100, as mteb sets it) */
  maxIter?: number;
  /** gradient tolerance (sklearn tol, default 1e-4) */
  tol?: number;
}

/** The fitted model: classes_ (sorted), coef_ [rows x dim] (one row for two classes), intercept_. */
export class LogisticRegression {
  classes: Label[] = [];
  coef: Float64Array[] = [];
  intercept: Float64Array = new Float64Array(0);
  nIter = 0;
  converged = false;
  private readonly C: number;
  private readonly maxIter: number;
  private readonly tol: number;

  constructor(o: LogisticRegressionOptions = {}) {
    this.C = o.C ?? 1;
    this.maxIter = o.maxIter ?? 100;
    this.tol = o.tol ?? 1e-4;
    if (!(this.C > 0)) throw new RangeError(`C must be positive, got ${this.C}`);
  }

  /** Fits on rows X (all of one length) with labels y. Throws on fewer than two classes. */
  fit(X: ArrayLike<number>[], y: ArrayLike<Label>): this {
    const n = X.length;
    if (n === 0 || n !== y.length) throw new Error(`logistic regression needs one label per row (${n} rows, ${y.length} labels)`);
    const d = X[0].length;
    const numeric = Array.from(y).every((v) => typeof v === 'number');
    this.classes = [...new Set(Array.from(y))].sort((a, b) => (numeric ? (a as number) - (b as number) : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0));
    const K = this.classes.length;
    if (K < 2) throw new Error(`logistic regression needs at least 2 classes in the training data, got ${K}`);
    const cls = new Map(this.classes.map((c, i) => [c, i]));
    const yi = Int32Array.from(Array.from(y), (v) => cls.get(v)!);
    const flat = new Float64Array(n * d);
    for (let i = 0; i < n; i++) {
      if (X[i].length !== d) throw new Error(`row ${i} has ${X[i].length} values, row 0 has ${d}`);
      for (let k = 0; k < d; k++) {
        const v = X[i][k];
        if (!Number.isFinite(v)) throw new Error(`row ${i} has a non-finite value`);
        flat[i * d + k] = v;
      }
    }
    const rows = K === 2 ? 1 : K;
    const stride = d + 1; // weights then intercept, per row
    const fg = K === 2 ? binomialLoss(flat, yi, n, d, this.C) : multinomialLoss(flat, yi, n, d, K, this.C);
    const res = lbfgs(fg, new Float64Array(rows * stride), this.maxIter, this.tol);
    this.nIter = res.iterations;
    this.converged = res.converged;
    this.coef = Array.from({ length: rows }, (_, r) => res.x.slice(r * stride, r * stride + d));
    this.intercept = Float64Array.from({ length: rows }, (_, r) => res.x[r * stride + d]);
    return this;
  }

  /** decision_function: [n x rows] scores. */
  decisionFunction(X: ArrayLike<number>[]): Float64Array[] {
    return X.map((x) =>
      Float64Array.from(this.coef, (w, r) => {
        let s = this.intercept[r];
        for (let k = 0; k < w.length; k++) s += w[k] * x[k];
        return s;
      }),
    );
  }

  /** predict: classes[1] where the binary score is > 0; else the class of the first largest score. */
  predict(X: ArrayLike<number>[]): Label[] {
    if (!this.coef.length) throw new Error('predict() before fit()');
    return this.decisionFunction(X).map((s) => {
      if (s.length === 1) return this.classes[s[0] > 0 ? 1 : 0];
      let best = 0;
      for (let j = 1; j < s.length; j++) if (s[j] > s[best]) best = j;
      return this.classes[best];
    });
  }
}

type FG = (x: Float64Array, g: Float64Array) => number;

/** log(1 + exp(z)) without overflow */
function log1pexp(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

function binomialLoss(X: Float64Array, y: Int32Array, n: number, d: number, C: number): FG {
  const reg = 1 / (C * n);
  return (w, g) => {
    g.fill(0);
    let f = 0;
    for (let i = 0; i < n; i++) {
      const o = i * d;
      let z = w[d];
      for (let k = 0; k < d; k++) z += w[k] * X[o + k];
      f += log1pexp(z) - y[i] * z;
      const r = 1 / (1 + Math.exp(-z)) - y[i];
      for (let k = 0; k < d; k++) g[k] += r * X[o + k];
      g[d] += r;
    }
    let sq = 0;
    for (let k = 0; k < d; k++) {
      sq += w[k] * w[k];
      g[k] = g[k] / n + reg * w[k];
    }
    g[d] /= n;
    return f / n + 0.5 * reg * sq;
  };
}

function multinomialLoss(X: Float64Array, y: Int32Array, n: number, d: number, K: number, C: number): FG {
  const reg = 1 / (C * n);
  const s = d + 1;
  const z = new Float64Array(K);
  return (w, g) => {
    g.fill(0);
    let f = 0;
    for (let i = 0; i < n; i++) {
      const o = i * d;
      let max = -Infinity;
      for (let c = 0; c < K; c++) {
        let v = w[c * s + d];
        const wo = c * s;
        for (let k = 0; k < d; k++) v += w[wo + k] * X[o + k];
        z[c] = v;
        if (v > max) max = v;
      }
      let sum = 0;
      for (let c = 0; c < K; c++) sum += Math.exp(z[c] - max);
      const lse = max + Math.log(sum);
      f += lse - z[y[i]];
      for (let c = 0; c < K; c++) {
        const r = Math.exp(z[c] - lse) - (c === y[i] ? 1 : 0);
        const wo = c * s;
        for (let k = 0; k < d; k++) g[wo + k] += r * X[o + k];
        g[wo + d] += r;
      }
    }
    let sq = 0;
    for (let c = 0; c < K; c++) {
      const wo = c * s;
      for (let k = 0; k < d; k++) {
        sq += w[wo + k] * w[wo + k];
        g[wo + k] = g[wo + k] / n + reg * w[wo + k];
      }
      g[wo + d] /= n;
    }
    return f / n + 0.5 * reg * sq;
  };
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

const EPS = 2.220446049250313e-16;

/** L-BFGS (m = 10) with a strong-Wolfe line search (c1 = 1e-3, c2 = 0.9, as scipy's L-BFGS-B). */
export function lbfgs(fg: FG, x0: Float64Array, maxIter: number, gtol: number, m = 10): { x: Float64Array; f: number; iterations: number; converged: boolean } {
  const nvar = x0.length;
  let x: Float64Array = Float64Array.from(x0);
  let g: Float64Array = new Float64Array(nvar);
  let f = fg(x, g);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  let iter = 0;
  if (maxAbs(g) <= gtol) return { x, f, iterations: 0, converged: true };
  const dir = new Float64Array(nvar);
  const alpha = new Float64Array(m);
  while (iter < maxIter) {
    // two-loop recursion: dir = -H g
    dir.set(g);
    for (let i = S.length - 1; i >= 0; i--) {
      alpha[i] = rho[i] * dot(S[i], dir);
      for (let k = 0; k < nvar; k++) dir[k] -= alpha[i] * Y[i][k];
    }
    if (S.length) {
      const l = S.length - 1;
      const gamma = dot(S[l], Y[l]) / dot(Y[l], Y[l]);
      for (let k = 0; k < nvar; k++) dir[k] *= gamma;
    }
    for (let i = 0; i < S.length; i++) {
      const beta = rho[i] * dot(Y[i], dir);
      for (let k = 0; k < nvar; k++) dir[k] += S[i][k] * (alpha[i] - beta);
    }
    for (let k = 0; k < nvar; k++) dir[k] = -dir[k];
    let dg = dot(dir, g);
    if (!(dg < 0)) {
      // not a descent direction (numerical trouble): restart from steepest descent
      S.length = 0;
      Y.length = 0;
      rho.length = 0;
      for (let k = 0; k < nvar; k++) dir[k] = -g[k];
      dg = dot(dir, g);
    }
    const step0 = iter === 0 && S.length === 0 ? Math.min(1, 1 / Math.sqrt(dot(dir, dir))) : 1;
    const ls = wolfeSearch(fg, x, f, g, dir, dg, step0);
    iter++;
    if (!ls) break; // no acceptable step: as converged as it gets in float64
    const s = new Float64Array(nvar);
    const yv = new Float64Array(nvar);
    for (let k = 0; k < nvar; k++) {
      s[k] = ls.x[k] - x[k];
      yv[k] = ls.g[k] - g[k];
    }
    const fOld = f;
    x = ls.x;
    g = ls.g;
    f = ls.f;
    const sy = dot(s, yv);
    if (sy > EPS * dot(yv, yv)) {
      if (S.length === m) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(yv);
      rho.push(1 / sy);
    }
    if (maxAbs(g) <= gtol) return { x, f, iterations: iter, converged: true };
    if ((fOld - f) / Math.max(Math.abs(fOld), Math.abs(f), 1) <= 64 * EPS) return { x, f, iterations: iter, converged: true };
  }
  return { x, f, iterations: iter, converged: maxAbs(g) <= gtol };
}

function wolfeSearch(fg: FG, x: Float64Array, f0: number, g0: Float64Array, dir: Float64Array, dg0: number, step0: number): { x: Float64Array; f: number; g: Float64Array } | null {
  const c1 = 1e-3;
  const c2 = 0.9;
  const nvar = x.length;
  const at = (t: number) => {
    const xt = new Float64Array(nvar);
    for (let k = 0; k < nvar; k++) xt[k] = x[k] + t * dir[k];
    const gt = new Float64Array(nvar);
    const ft = fg(xt, gt);
    return { t, x: xt, f: ft, g: gt, dg: dot(gt, dir) };
  };
  let prev = { t: 0, x, f: f0, g: g0, dg: dg0 };
  let t = step0;
  for (let i = 0; i < 20; i++) {
    const cur = at(t);
    if (cur.f > f0 + c1 * t * dg0 || (i > 0 && cur.f >= prev.f)) return zoom(at, prev, cur, f0, dg0, c1, c2);
    if (Math.abs(cur.dg) <= -c2 * dg0) return cur;
    if (cur.dg >= 0) return zoom(at, cur, prev, f0, dg0, c1, c2);
    prev = cur;
    t *= 2;
  }
  return null;
}

type Pt = { t: number; x: Float64Array; f: number; g: Float64Array; dg: number };

function zoom(at: (t: number) => Pt, lo: Pt, hi: Pt, f0: number, dg0: number, c1: number, c2: number): Pt | null {
  for (let i = 0; i < 40; i++) {
    // cubic interpolation between lo and hi, safeguarded to the middle 80%
    const d1 = lo.dg + hi.dg - 3 * (lo.f - hi.f) / (lo.t - hi.t);
    const disc = d1 * d1 - lo.dg * hi.dg;
    let t: number;
    if (disc >= 0) {
      const d2 = Math.sign(hi.t - lo.t) * Math.sqrt(disc);
      t = hi.t - (hi.t - lo.t) * (hi.dg + d2 - d1) / (hi.dg - lo.dg + 2 * d2);
    } else t = (lo.t + hi.t) / 2;
    const a = Math.min(lo.t, hi.t), b = Math.max(lo.t, hi.t);
    if (!Number.isFinite(t) || t < a + 0.1 * (b - a) || t > b - 0.1 * (b - a)) t = (lo.t + hi.t) / 2;
    if (Math.abs(hi.t - lo.t) < 1e-16 * Math.max(1, Math.abs(lo.t))) break;
    const cur = at(t);
    if (cur.f > f0 + c1 * t * dg0 || cur.f >= lo.f) hi = cur;
    else {
      if (Math.abs(cur.dg) <= -c2 * dg0) return cur;
      if (cur.dg * (hi.t - lo.t) >= 0) hi = lo;
      lo = cur;
    }
  }
  return lo.t > 0 && lo.f < f0 ? lo : null;
}
