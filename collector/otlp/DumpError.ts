/**
 * A dump file that `canceltrace import/check` cannot read. The message is one line that
 * names the file (and the line, for JSON lines) and says what is wrong, ready for a terminal.
 */
export class DumpError extends Error {
  /** The file name as given to {@link readDump}. */
  readonly fileName: string;
  /** 1-based line of a JSON-lines file, when the fault is on one line. */
  readonly line?: number;

  constructor(fileName: string, problem: string, line?: number, options?: { cause?: unknown }) {
    const where = line === undefined ? fileName : `${fileName}:${line}`;
    super(`${where}: ${oneLine(problem)}`, options);
    this.name = 'DumpError';
    this.fileName = fileName;
    if (line !== undefined) this.line = line;
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
