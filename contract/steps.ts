import { ATTR, EVENT } from './contract.js';

/** The kind of a paired step: a cleanup (`task.cleanup.*`) or a shielded must-run step (`task.shield.*`). */
export type StepKind = 'cleanup' | 'shield';

/** The least an event needs for step pairing; the server's `EventRecord` and the API's event both fit. */
export interface StepEventLike<T> {
  name: string;
  time: T;
  attributes?: Readonly<Record<string, unknown>>;
}

/** One cleanup or shield step: its start and end events paired by kind and name. */
export interface PairedStep<T, E extends StepEventLike<T> = StepEventLike<T>> {
  kind: StepKind;
  /** `cleanup.name` or `shield.name`; the kind itself when the recorder sent neither. */
  name: string;
  /** The start event; undefined for an end that had no start. */
  startEvent?: E;
  /** The end event; undefined for a step that never ended (interrupted, or still running). */
  endEvent?: E;
  /** `cleanup.outcome` / `shield.outcome` of the end (`ok` when the end carries none); undefined while open. */
  outcome?: string;
}

const STEP_EDGES: Readonly<Record<string, readonly [StepKind, 'start' | 'end']>> = {
  [EVENT.cleanupStart]: ['cleanup', 'start'],
  [EVENT.cleanupEnd]: ['cleanup', 'end'],
  [EVENT.shieldStart]: ['shield', 'start'],
  [EVENT.shieldEnd]: ['shield', 'end'],
};

/** The name a step event carries: `cleanup.name`, else `shield.name`, else the step's kind. */
export function stepNameOf(event: StepEventLike<unknown>, kind: StepKind): string {
  const a = event.attributes;
  const name = a?.[ATTR.cleanupName] ?? a?.[ATTR.shieldName];
  return name === undefined || name === null ? kind : String(name);
}

/**
 * Pairs the cleanup and shield events of one task, which must come in time order: an end closes
 * the latest open start of its kind and name (steps may nest); an end with no open start of its
 * name is a step of its own, and leaves other starts open. Steps come back in the order they started
 * (an end without a start counts as starting at its end). The one definition of step pairing:
 * the judge, the API and the dashboard all read steps through it.
 */
export function pairSteps<T, E extends StepEventLike<T>>(events: readonly E[]): PairedStep<T, E>[] {
  const steps: PairedStep<T, E>[] = [];
  const open: PairedStep<T, E>[] = [];
  for (const event of events) {
    const edge = STEP_EDGES[event.name];
    if (!edge) continue;
    const [kind, side] = edge;
    const name = stepNameOf(event, kind);
    if (side === 'start') {
      const step: PairedStep<T, E> = { kind, name, startEvent: event };
      steps.push(step);
      open.push(step);
      continue;
    }
    let i = open.length - 1;
    while (i >= 0 && !(open[i].kind === kind && open[i].name === name)) i--;
    const outcomeAttr = event.attributes?.[kind === 'cleanup' ? ATTR.cleanupOutcome : ATTR.shieldOutcome];
    const outcome = outcomeAttr === undefined || outcomeAttr === null ? 'ok' : String(outcomeAttr);
    if (i >= 0) {
      const [step] = open.splice(i, 1);
      step.endEvent = event;
      step.outcome = outcome;
    } else {
      steps.push({ kind, name, endEvent: event, outcome });
    }
  }
  return steps;
}
