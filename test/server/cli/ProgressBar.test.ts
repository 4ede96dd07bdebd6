import { describe, expect, it } from 'vitest';
import { ProgressBar } from '../../../server/cli/ProgressBar.js';

/** A terminal-like stream that keeps what is written to it. */
function terminal(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const out = {
    isTTY,
    text: '',
    write(chunk: string) {
      out.text += chunk;
      return true;
    },
  };
  return out as unknown as NodeJS.WriteStream & { text: string };
}

/** What a terminal shows: each line as left after carriage returns and erase-to-end-of-line codes. */
function screen(text: string): string[] {
  return text.split('\n').map((line) => {
    const parts = line.replace(/\x1b\[K/g, '').split('\r');
    return parts[parts.length - 1];
  });
}

describe('ProgressBar', () => {
  it('when a message is noted while the bar is drawn, then it gets a line of its own and the bar is drawn again below it', () => {
    const tty = terminal(true);
    const bar = new ProgressBar(tty, 3, 'import');
    bar.tick('a.jsonl');
    bar.note('canceltrace: b.jsonl: not an OTLP dump');
    bar.tick('b.jsonl');
    bar.done();
    const lines = screen(tty.text);
    expect(lines[0]).toBe('canceltrace: b.jsonl: not an OTLP dump');
    expect(lines[1]).toMatch(/^import \[#+-+\] 2\/3 b\.jsonl$/);
  });

  it('when the stream is not a TTY, then only the messages are written, without control characters', () => {
    const log = terminal(false);
    const bar = new ProgressBar(log, 2, 'import');
    bar.tick('a.jsonl');
    bar.note('canceltrace: b.jsonl: file is empty');
    bar.tick('b.jsonl');
    bar.done();
    expect(log.text).toBe('canceltrace: b.jsonl: file is empty\n');
  });
});
