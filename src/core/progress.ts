// A small progress indicator on stderr: a bar redrawn in place on a terminal, a plain line every
// few seconds otherwise (when asked to report at all), nothing when disabled.

export interface ProgressOptions {
  /** true: always report; false: never; undefined (default): only when stderr is a TTY */
  enabled?: boolean;
  /** stream to write to (default process.stderr) */
  stream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  /** seconds between plain lines when not on a terminal (default 5) */
  intervalS?: number;
}

export class ProgressBar {
  private done_ = 0;
  private readonly t0 = Date.now();
  private last = 0;
  private drawn = -1;
  private readonly tty: boolean;
  private readonly enabled: boolean;
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private readonly interval: number;

  constructor(private label: string, private total: number, o: ProgressOptions = {}) {
    this.stream = o.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
    this.enabled = o.enabled ?? this.tty;
    this.interval = (o.intervalS ?? 5) * 1000;
  }

  get count(): number {
    return this.done_;
  }

  /** Advance by n (default 1). */
  tick(n = 1): void {
    this.update(this.done_ + n);
  }

  /** Set the absolute count (and optionally a new label). */
  update(count: number, label?: string): void {
    this.done_ = count;
    if (label) this.label = label;
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < (this.tty ? 100 : this.interval) && count < this.total) return;
    this.last = now;
    this.draw(now);
  }

  private draw(now: number): void {
    this.drawn = this.done_;
    const frac = this.total > 0 ? Math.min(1, this.done_ / this.total) : 1;
    const secs = (now - this.t0) / 1000;
    const rate = secs > 0 ? this.done_ / secs : 0;
    const eta = rate > 0 ? Math.max(0, (this.total - this.done_) / rate) : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = this.tty ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ` : '';
    const line = `${this.label} ${bar}${this.done_}/${this.total} (${(frac * 100).toFixed(0)}%) ${secs.toFixed(0)}s elapsed${frac < 1 ? `, eta ${eta.toFixed(0)}s` : ''}`;
    this.stream.write(this.tty ? `\r${line}\x1b[K` : `${line}\n`);
  }

  /** Final draw and newline. */
  finish(): void {
    if (!this.enabled) return;
    if (this.drawn !== this.done_) this.draw(Date.now());
    if (this.tty) this.stream.write('\n');
  }
}
