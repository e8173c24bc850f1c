// A progress bar for long work on stderr: redrawn in place on a terminal, a line every few
// seconds otherwise (CI logs), silent when disabled.
export class Progress {
  private count = 0;
  private readonly t0 = performance.now();
  private lastDraw = 0;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(private readonly label: string, private readonly total: number, private readonly enabled: boolean) {}

  tick(n: number): void {
    this.count += n;
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.lastDraw < (this.tty ? 100 : 5000) && this.count < this.total) return;
    this.lastDraw = now;
    this.draw(now);
  }

  private draw(now: number): void {
    const frac = this.total ? Math.min(1, this.count / this.total) : 1;
    const secs = (now - this.t0) / 1000;
    const rate = secs > 0 ? this.count / secs : 0;
    const eta = rate > 0 ? (this.total - this.count) / rate : 0;
    const width = 30;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
    const line = `${this.label} ${bar} ${this.count}/${this.total} ${(frac * 100).toFixed(0)}% ${rate.toFixed(0)}/s eta ${eta.toFixed(0)}s`;
    process.stderr.write(this.tty ? `\r${line}\x1b[K` : `${line}\n`);
  }

  done(): void {
    if (!this.enabled) return;
    this.draw(performance.now());
    if (this.tty) process.stderr.write('\n');
  }
}
