// The seed page's figure as SVG, no dependencies: throughput (sentences/s, x) against latency
// per batch (ms, y, log scale), one line per engine × workload × dtype (× quantization). Lower right is better.
import { writeFileSync } from 'node:fs';

export interface PlotPoint {
  engine: string;
  workload: string;
  dtype: string;
  quantization?: string;
  batchSize: number;
  msPerBatch: number;
  sentencesPerSec: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

export function latencyThroughputSvg(points: PlotPoint[], title: string): string {
  const W = 900, H = 560, L = 80, R = 260, T = 50, B = 60;
  const pw = W - L - R, ph = H - T - B;
  const xs = points.map((p) => p.sentencesPerSec);
  const ys = points.map((p) => p.msPerBatch).filter((v) => v > 0);
  const xmax = Math.max(1, ...xs) * 1.05;
  const ylo = Math.pow(10, Math.floor(Math.log10(Math.min(...ys, 1))));
  const yhi = Math.pow(10, Math.ceil(Math.log10(Math.max(...ys, 1))));
  const x = (v: number) => L + (v / xmax) * pw;
  const y = (v: number) => T + ph - ((Math.log10(v) - Math.log10(ylo)) / (Math.log10(yhi) - Math.log10(ylo))) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${L}" y="28" font-size="15">${esc(title)}</text>`);
  for (let e = Math.log10(ylo); e <= Math.log10(yhi) + 1e-9; e++) {
    const v = Math.pow(10, e);
    out.push(`<line x1="${L}" x2="${L + pw}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${L - 8}" y="${y(v) + 4}" text-anchor="end">${v >= 1 ? v.toFixed(0) : v}</text>`);
  }
  for (let i = 0; i <= 5; i++) {
    const v = (xmax / 5) * i;
    out.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${T}" y2="${T + ph}" stroke="#eee"/>`);
    out.push(`<text x="${x(v)}" y="${T + ph + 18}" text-anchor="middle">${v >= 1e4 ? (v / 1e3).toFixed(0) + 'k' : v.toFixed(0)}</text>`);
  }
  out.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${L + pw / 2}" y="${H - 15}" text-anchor="middle">throughput (sentences/s) →</text>`);
  out.push(`<text transform="translate(20 ${T + ph / 2}) rotate(-90)" text-anchor="middle">latency per batch (ms, log) ↓</text>`);
  const series = new Map<string, PlotPoint[]>();
  for (const p of points) {
    const k = `${p.engine} ${p.workload} ${p.dtype}${p.quantization ? '+' + p.quantization : ''}`;
    if (!series.has(k)) series.set(k, []);
    series.get(k)!.push(p);
  }
  let i = 0;
  for (const [k, ps] of series) {
    const c = COLORS[i % COLORS.length];
    const dash = ps[0].engine === 'embedrank' ? '' : ' stroke-dasharray="6 4"';
    ps.sort((a, b) => a.batchSize - b.batchSize);
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2"${dash} points="${ps.map((p) => `${x(p.sentencesPerSec).toFixed(1)},${y(p.msPerBatch).toFixed(1)}`).join(' ')}"/>`);
    for (const p of ps) out.push(`<circle cx="${x(p.sentencesPerSec).toFixed(1)}" cy="${y(p.msPerBatch).toFixed(1)}" r="3" fill="${c}"><title>B=${p.batchSize}</title></circle>`);
    const ly = T + 10 + i * 18;
    out.push(`<line x1="${L + pw + 15}" x2="${L + pw + 40}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${L + pw + 46}" y="${ly + 4}">${esc(k)}</text>`);
    i++;
  }
  out.push('</svg>');
  return out.join('\n');
}

export function writeLatencyThroughputSvg(points: PlotPoint[], file: string, title: string): void {
  writeFileSync(file, latencyThroughputSvg(points, title));
}
