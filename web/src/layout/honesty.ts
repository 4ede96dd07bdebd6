import { ATTR } from '../../../contract/contract.js';
import type { ApiShutdownReport, ApiShutdownSummary } from '../api/types.js';
import { parseNs } from './nsToMs.js';
import { BAD_VERDICTS } from './verdicts.js';

/**
 * An open shutdown counts as live while its process sent something (its snapshot, re-sent about
 * every second by the recorders) within this many ms of now; after that it is an open shutdown
 * whose process stopped sending (killed, or its telemetry lost).
 */
export const LIVE_WINDOW_MS = 15_000;
/** Outcomes the recorders send that claim nothing went wrong. */
const GOOD_OUTCOMES: readonly string[] = ['clean', 'open'];

/** What the dashboard says of a shutdown's outcome: never better than its worst verdict. */
export interface HonestOutcome {
  /** the word shown: the reported outcome, or the worst bad verdict when the report claims `clean`/`open` */
  label: string;
  /** the outcome as reported (or derived) by the server */
  reported: string;
  /** the most severe bad verdict among its tasks, if any */
  worst?: string;
  /** still open (no final record of the shutdown span) */
  open: boolean;
  /** open and its process sent within {@link LIVE_WINDOW_MS} */
  live: boolean;
  /** ms since the process last sent (open shutdowns only) */
  lastSentAgoMs?: number;
}

/**
 * The outcome to show for a shutdown: a shutdown reported `clean` (or still `open`) that has a
 * swallowed, survivor, replaced, destroyed or orphan task reads as that verdict; "live" only when
 * its last snapshot is at most {@link LIVE_WINDOW_MS} old at `nowMs` (unix ms). Pure.
 */
export function honestOutcome(
  s: Pick<ApiShutdownSummary, 'outcome' | 'open' | 'end'> & { counts?: Partial<Record<string, number>> },
  nowMs: number,
): HonestOutcome {
  const counts = s.counts ?? {};
  const worst = BAD_VERDICTS.find((v) => (counts[v] ?? 0) > 0);
  const label = worst && GOOD_OUTCOMES.includes(s.outcome) ? worst : s.outcome;
  const out: HonestOutcome = { label, reported: s.outcome, open: s.open, live: false };
  if (worst) out.worst = worst;
  if (s.open) {
    const endNs = parseNs(s.end);
    const ago = endNs === undefined ? Number.POSITIVE_INFINITY : nowMs - Number(endNs / 1_000_000n);
    out.lastSentAgoMs = Math.max(0, ago);
    out.live = ago <= LIVE_WINDOW_MS;
  }
  return out;
}

/** "3 s ago", "4 min ago", "2 h ago", "5 d ago". */
export function agoText(ms: number): string {
  if (!Number.isFinite(ms)) return 'never';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.round(h / 24)} d ago`;
}

/** The text of an outcome badge: the label, and for an open shutdown whether it is live and when it last sent. */
export function outcomeText(o: HonestOutcome): string {
  if (!o.open) return o.label;
  return o.live ? `${o.label} (live)` : `${o.label} (no end)`;
}

/** What is missing from a shutdown's data, with the numbers. */
export interface Completeness {
  /** spans the recorder said it dropped (`canceltrace.spans_dropped` on the shutdown span) */
  spansDropped: number;
  /** the shutdown's own end never arrived */
  noEnd: boolean;
  /** and its process stopped sending */
  abandoned: boolean;
  /** tasks known only from snapshots of their open spans */
  snapshotOnly: number;
  /** one sentence per gap; empty when the data is complete */
  notices: string[];
}

/** Reads the gaps of a shutdown's data. `snapshotOnly` is counted by the caller (it knows the task form). Pure. */
export function completenessOf(report: Pick<ApiShutdownReport, 'shutdown'>, snapshotOnly: number, outcome: HonestOutcome): Completeness {
  const raw = report.shutdown.attributes?.[ATTR.spansDropped];
  const dropped = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : 0;
  const notices: string[] = [];
  if (dropped > 0)
    notices.push(
      `${dropped.toLocaleString('en-US')} ${dropped === 1 ? 'span was' : 'spans were'} dropped by the recorder before export: tasks may be missing and counts are lower bounds.`,
    );
  const noEnd = report.shutdown.open;
  const abandoned = noEnd && !outcome.live;
  if (noEnd)
    notices.push(
      abandoned
        ? `The shutdown's end never arrived and its process stopped sending (last data ${agoText(outcome.lastSentAgoMs ?? Number.POSITIVE_INFINITY)}): it was probably killed during the drain.`
        : `The shutdown has not ended yet: this is its latest snapshot (${agoText(outcome.lastSentAgoMs ?? 0)}).`,
    );
  if (snapshotOnly > 0)
    notices.push(
      `${snapshotOnly.toLocaleString('en-US')} ${snapshotOnly === 1 ? 'task is' : 'tasks are'} known only from snapshots of their open spans: their final record never arrived.`,
    );
  return { spansDropped: dropped, noEnd, abandoned, snapshotOnly, notices };
}
