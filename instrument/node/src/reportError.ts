import { diag } from '@opentelemetry/api';

/** Prefix of every message the Node instrumentation reports, so its lines are easy to find in a log. */
const COMPONENT = 'canceltrace/node';

/**
 * The one error reporter of the in-app instrumentation: telemetry failures go to the
 * OpenTelemetry diag logger and nowhere else. It never throws, whatever the logger does,
 * because a broken logger must not turn a failed export into an application error.
 */
export function reportError(message: string, error?: unknown): void {
  try {
    const detail = error === undefined ? '' : `: ${describeError(error)}`;
    diag.error(`${COMPONENT} ${message}${detail}`);
  } catch {
    // the reporter is the last line: nothing is left to report to
  }
}

/** Reports a condition worth a warning (drops, corrected settings); never throws. */
export function reportWarning(message: string): void {
  try {
    diag.warn(`${COMPONENT} ${message}`);
  } catch {
    // see reportError
  }
}

/** A one-line description of anything thrown, `Name: message` for errors. */
export function describeError(error: unknown): string {
  try {
    if (error instanceof Error) return `${error.name}: ${error.message}`;
    if (error && typeof error === 'object' && 'message' in error) return String((error as { message: unknown }).message);
    return String(error);
  } catch {
    return 'unprintable error';
  }
}
