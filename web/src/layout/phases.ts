import { EVENT } from '../../../contract/contract.js';
import type { ApiShutdown } from '../api/types.js';
import { nsToMs, parseNs } from './nsToMs.js';

/** One phase marker of a shutdown, in ms relative to the shutdown start. */
export interface PhaseMark {
  kind: 'signal' | 'cancel_all' | 'deadline' | 'drained' | 'end';
  label: string;
  t: number;
}

/** A band between two marks, drawn as a lane behind the bars. */
export interface PhaseLane {
  kind: 'before' | 'signal' | 'drain' | 'overdue';
  label: string;
  start: number;
  end: number;
}

/** The marks and lanes of a shutdown. */
export interface Phases {
  marks: PhaseMark[];
  lanes: PhaseLane[];
}

/** How long a shutdown took from its signal to its end (or last snapshot), in ms; NaN when a time is malformed. */
export function drainMsOf(shutdown: { start: string; end: string }): number {
  return nsToMs(shutdown.end, parseNs(shutdown.start) ?? 0n);
}

/**
 * The phases of a shutdown on its own time axis (0 = the signal): signal, cancel-all, drain
 * deadline (start + `drainTimeoutMs`), drained (the `shutdown.drained` event, else the end of a
 * closed shutdown). Lanes: signal→cancel-all, cancel-all→drained (the drain), deadline→end when
 * the drain overran. Pure.
 */
export function phasesOf(shutdown: ApiShutdown): Phases {
  const origin = parseNs(shutdown.start) ?? 0n;
  const endMs = drainMsOf(shutdown);
  const marks: PhaseMark[] = [{ kind: 'signal', label: `signal (${shutdown.reason})`, t: 0 }];
  const cancelAll = shutdown.events?.find((e) => e.name === EVENT.cancelAll);
  const cancelMs = cancelAll ? nsToMs(cancelAll.time, origin) : Number.NaN;
  if (Number.isFinite(cancelMs)) marks.push({ kind: 'cancel_all', label: 'cancel all', t: cancelMs });
  const deadline = shutdown.drainTimeoutMs !== undefined ? (Number.isFinite(cancelMs) ? cancelMs : 0) + shutdown.drainTimeoutMs : Number.NaN;
  if (Number.isFinite(deadline)) marks.push({ kind: 'deadline', label: 'drain deadline', t: deadline });
  const drainedEvent = shutdown.events?.find((e) => e.name === EVENT.drained);
  const drainedMs = drainedEvent ? nsToMs(drainedEvent.time, origin) : Number.NaN;
  if (Number.isFinite(drainedMs)) marks.push({ kind: 'drained', label: 'drained', t: drainedMs });
  if (Number.isFinite(endMs)) marks.push({ kind: 'end', label: shutdown.open ? 'last snapshot' : 'end', t: endMs });
  marks.sort((a, b) => a.t - b.t);

  const lanes: PhaseLane[] = [];
  const drainStart = Number.isFinite(cancelMs) ? cancelMs : 0;
  const drainEnd = Number.isFinite(drainedMs) ? drainedMs : endMs;
  if (drainStart > 0) lanes.push({ kind: 'signal', label: 'signalled', start: 0, end: drainStart });
  if (Number.isFinite(drainEnd) && drainEnd >= drainStart) lanes.push({ kind: 'drain', label: 'drain', start: drainStart, end: drainEnd });
  if (Number.isFinite(deadline) && Number.isFinite(endMs) && endMs > deadline)
    lanes.push({ kind: 'overdue', label: 'past deadline', start: deadline, end: endMs });
  return { marks, lanes };
}
