import { COLUMNAR_VERSION, type ColumnarSite, type ColumnarTasks } from '../../contract/columnar.js';
import { type BriefReport, Interner } from '../judge/judgeBrief.js';
import { briefHeadJson } from './json.js';

/** Re-interns a table's vocabulary in the order its members are first met (the order of the report). */
class FirstSeen<T> {
  readonly values: T[] = [];
  private readonly map: Int32Array;

  constructor(private readonly source: readonly T[]) {
    this.map = new Int32Array(source.length).fill(-1);
  }

  index(i: number): number {
    let j = this.map[i];
    if (j === -1) {
      j = this.values.length;
      this.map[i] = j;
      this.values.push(this.source[i]);
    }
    return j;
  }
}

/**
 * `GET /api/shutdowns/:id/timeline` as objects: the text of {@link columnarReportText} read back. The
 * service sends the text; this is for tests and tools that want the columns.
 */
export function columnarReportJson(brief: BriefReport): ReturnType<typeof briefHeadJson> & { version: number; originNs: string; columnar: ColumnarTasks } {
  return JSON.parse([...columnarReportText(brief)].join(''));
}

/** Elements of a column gathered into one piece of {@link columnarReportText}. */
export const COLUMN_PIECE_ELEMENTS = 16_384;

/** An element of a JSON array as JSON.stringify writes it (undefined and non-finite numbers are null). */
function element(value: unknown): string {
  return value === undefined ? 'null' : JSON.stringify(value);
}

/**
 * `GET /api/shutdowns/:id/timeline`: the shutdown view (header, samples, gauges, findings) with its
 * tasks in the columnar form (contract/columnar.ts), times relative to the shutdown's start, written
 * column by column from the report's task table without making the columns: the vocabularies (in the
 * order their members are first met) and each row's index into them first (typed arrays), then each
 * column's text a piece at a time. A million tasks' columns as arrays are some 200 MB; this holds a
 * few bytes per task. The text holds no bigint.
 */
export function* columnarReportText(brief: BriefReport): Generator<string> {
  const t = brief.tasks;
  const n = t.count;
  const { order } = t;
  const traces = new FirstSeen(t.traces.values);
  const sites = new FirstSeen<ColumnarSite>(t.sites.values);
  const swallowSites = new FirstSeen<ColumnarSite>(t.swallowSites.values);
  const stepNames = new FirstSeen(t.stepNames.values);
  const verdicts = new Interner<string>();
  const finalStates = new Interner<string>();
  const stepOutcomes = new Interner<string>();
  const findingKinds = new Interner<string>();
  const trace = new Int32Array(n);
  const verdict = new Int32Array(n);
  const site = new Int32Array(n);
  const swallowSite = new Int32Array(n);
  const finalState = new Int32Array(n);
  const findings = new Int32Array(n);
  let steps = 0;
  for (let k = 0; k < n; k++) steps += t.stepOffset[order[k] + 1] - t.stepOffset[order[k]];
  const stepName = new Int32Array(steps);
  const stepOutcome = new Int32Array(steps);
  for (let k = 0, s = 0; k < n; k++) {
    const i = order[k];
    trace[k] = traces.index(t.trace[i]);
    verdict[k] = verdicts.string(t.verdict[i]);
    site[k] = sites.index(t.site[i]);
    const swallow = t.swallowSite[i];
    swallowSite[k] = swallow < 0 ? -1 : swallowSites.index(swallow);
    finalState[k] = finalStates.string(t.finalStateOf(i));
    for (let j = t.stepOffset[i]; j < t.stepOffset[i + 1]; j++, s++) {
      stepName[s] = stepNames.index(t.stepName[j]);
      const outcome = t.stepOutcome[j];
      stepOutcome[s] = stepOutcomes.string(outcome < 0 ? 'interrupted' : t.stepOutcomes.values[outcome]);
    }
    let mask = 0;
    for (const kind of t.findingKindsOf(i)) mask |= 1 << findingKinds.string(kind);
    findings[k] = mask;
  }

  /** `,"name":[...]`, the elements given by `each(emit)` in order, a piece at a time. */
  function* column(name: string, each: (emit: (text: string) => void) => void): Generator<string> {
    const pieces: string[] = [];
    let piece: string[] = [];
    const emit = (text: string) => {
      piece.push(text);
      if (piece.length >= COLUMN_PIECE_ELEMENTS) {
        pieces.push(piece.join(','));
        piece = [];
      }
    };
    // The elements are made a task at a time and handed on a piece at a time (a generator cannot yield
    // from inside `each`): the pieces of one column are held until it is done, a column's text at most.
    each(emit);
    if (piece.length) pieces.push(piece.join(','));
    yield `,${JSON.stringify(name)}:[`;
    for (let p = 0; p < pieces.length; p++) yield p === 0 ? pieces[p] : `,${pieces[p]}`;
    yield ']';
  }
  const rows = (value: (i: number, k: number) => unknown) => (emit: (text: string) => void) => {
    for (let k = 0; k < n; k++) emit(element(value(order[k], k)));
  };
  const vocabulary = (name: string, values: readonly unknown[]) => `,${JSON.stringify(name)}:${JSON.stringify(values)}`;

  const head = JSON.stringify({ ...briefHeadJson(brief), version: COLUMNAR_VERSION, originNs: brief.shutdown.start.toString() });
  yield `${head.slice(0, -1)},"columnar":{"count":${n}`;
  yield* column(
    'spanId',
    rows((i) => t.spanId[i]),
  );
  yield vocabulary('traces', traces.values);
  yield* column(
    'trace',
    rows((_i, k) => trace[k]),
  );
  yield* column(
    'name',
    rows((i) => t.name[i]),
  );
  yield vocabulary('verdicts', verdicts.values);
  yield* column(
    'verdict',
    rows((_i, k) => verdict[k]),
  );
  yield vocabulary('sites', sites.values);
  yield* column(
    'site',
    rows((_i, k) => site[k]),
  );
  yield vocabulary('swallowSites', swallowSites.values);
  yield* column(
    'swallowSite',
    rows((_i, k) => swallowSite[k]),
  );
  yield vocabulary('finalStates', finalStates.values);
  yield* column(
    'finalState',
    rows((_i, k) => finalState[k]),
  );
  yield* column(
    'snapshot',
    rows((i) => t.snapshot[i]),
  );
  yield* column(
    'createdMs',
    rows((i) => t.created.ms(i)),
  );
  yield* column(
    'endedMs',
    rows((i) => t.ended.ms(i)),
  );
  yield* column(
    'cancelRequestedMs',
    rows((i) => t.cancelRequested.ms(i)),
  );
  /** The offsets of per-task runs in report order, from the table's `offset` (in table order). */
  const offsets = (offset: ArrayLike<number>) => (emit: (text: string) => void) => {
    let at = 0;
    emit('0');
    for (let k = 0; k < n; k++) {
      const i = order[k];
      at += offset[i + 1] - offset[i];
      emit(String(at));
    }
  };
  yield* column('cancelOffset', offsets(t.cancelOffset));
  yield* column('cancelTimes', (emit) => {
    for (let k = 0; k < n; k++) {
      const i = order[k];
      for (let j = t.cancelOffset[i]; j < t.cancelOffset[i + 1]; j++) emit(element(t.cancelTimes.ms(j)));
    }
  });
  /** Each step of the tasks in report order: `value(j, s)` of step j of the table, the s-th written. */
  const eachStep = (value: (j: number, s: number) => unknown) => (emit: (text: string) => void) => {
    for (let k = 0, s = 0; k < n; k++) {
      const i = order[k];
      for (let j = t.stepOffset[i]; j < t.stepOffset[i + 1]; j++, s++) emit(element(value(j, s)));
    }
  };
  yield* column('stepOffset', offsets(t.stepOffset));
  yield* column(
    'stepKind',
    eachStep((j) => t.stepKind[j]),
  );
  yield vocabulary('stepNames', stepNames.values);
  yield* column(
    'stepName',
    eachStep((_j, s) => stepName[s]),
  );
  yield* column(
    'stepStartMs',
    eachStep((j) => t.stepStart.ms(j)),
  );
  yield* column(
    'stepEndMs',
    eachStep((j) => t.stepEnd.ms(j)),
  );
  yield vocabulary('stepOutcomes', stepOutcomes.values);
  yield* column(
    'stepOutcome',
    eachStep((_j, s) => stepOutcome[s]),
  );
  yield vocabulary('findingKinds', findingKinds.values);
  yield* column(
    'findings',
    rows((_i, k) => findings[k]),
  );
  yield* column(
    'taskId',
    rows((i) => t.taskId[i] ?? ''),
  );
  yield* column(
    'parentTaskId',
    rows((i) => t.parentTaskId[i] ?? ''),
  );
  yield '}}';
}
