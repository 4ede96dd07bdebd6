/** Width of the bar in characters. */
const BAR_WIDTH = 30;

/**
 * A one-line progress bar for long imports, drawn only when the stream is a TTY
 * (so scripts and CI logs get no control characters).
 */
export class ProgressBar {
  private done_ = 0;
  private readonly enabled: boolean;
  /** The bar as last drawn, to draw again below a message. */
  private line = '';

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly total: number,
    private readonly label: string,
  ) {
    this.enabled = Boolean(stream.isTTY) && total > 0;
  }

  /** One more item done. */
  tick(item: string): void {
    this.done_++;
    if (!this.enabled) return;
    const filled = Math.round((this.done_ / this.total) * BAR_WIDTH);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}`;
    const name = item.length > 40 ? `…${item.slice(-39)}` : item;
    this.line = `${this.label} [${bar}] ${this.done_}/${this.total} ${name}`;
    this.stream.write(`\r${this.line}\x1b[K`);
  }

  /**
   * Prints one message line (e.g. a file that failed) on its own line: the bar is erased first and
   * drawn again below it, so the message is not glued to the bar.
   */
  note(message: string): void {
    if (!this.enabled || this.line === '') {
      this.stream.write(`${message}\n`);
      return;
    }
    this.stream.write(`\r\x1b[K${message}\n${this.line}\x1b[K`);
  }

  /** Ends the bar's line. */
  done(): void {
    if (this.enabled && this.done_ > 0) this.stream.write('\n');
  }
}
