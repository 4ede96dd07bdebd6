import type { JudgedTask, ShutdownRecord, ShutdownReport, Verdict } from '../../collector/records.js';

/** JSON.stringify replacer: bigints (unix ns, int64 attributes) become decimal strings, as in OTLP JSON. */
export function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** A shutdown as the API lists it. */
export function shutdownJson(shutdown: ShutdownRecord, outcome: string, counts: Partial<Record<Verdict, number>>) {
  return {
    id: shutdown.id,
    traceId: shutdown.span.traceId,
    spanId: shutdown.span.spanId,
    service: shutdown.service,
    instance: shutdown.instance,
    reason: shutdown.reason,
    start: shutdown.start,
    end: shutdown.end,
    open: shutdown.open,
    outcome,
    drainTimeoutMs: shutdown.drainTimeoutMs,
    counts,
  };
}

/** A judged task as the API shows it. */
export function taskJson(judged: JudgedTask) {
  const { task } = judged;
  return {
    traceId: task.traceId,
    spanId: task.spanId,
    parentSpanId: task.span.parentSpanId,
    name: task.name,
    verdict: judged.verdict,
    findings: judged.findings,
    finalState: task.finalState,
    createdAt: task.createdAt,
    cancelRequestedAt: judged.cancelRequestedAt,
    endedAt: task.endTime,
    code: task.code,
    coroutine: task.coroutine,
    taskId: task.taskId,
    parentTaskId: task.parentTaskId,
    groupId: task.groupId,
    taskKind: task.taskKind,
    snapshot: task.snapshot,
    swallowSite: judged.swallowSite,
    service: task.service,
    instance: task.instance,
    status: task.span.status,
    events: task.span.events,
    attributes: task.span.attributes,
  };
}

/** The whole shutdown view. */
export function reportJson(report: ShutdownReport) {
  const { shutdown } = report;
  return {
    shutdown: {
      ...shutdownJson(shutdown, report.outcome, report.counts),
      attributes: shutdown.span.attributes,
      events: shutdown.span.events,
      resource: shutdown.span.resource,
    },
    tasks: report.tasks.map(taskJson),
    pending: report.pending.map((s) => ({ t: s.t, count: s.value })),
    pendingBaseline: report.pendingBaseline,
    gauges: report.gauges,
    findings: report.findings,
    warnings: report.warnings,
  };
}

/** A cleanup or shield step of the compact form: kind, name, start ns, end ns (null: never ended), outcome. */
type CompactStep = ['cleanup' | 'shield', string, bigint, bigint | null, string | null];

const STEP_EVENTS: Record<string, ['cleanup' | 'shield', 'start' | 'end']> = {
  'task.cleanup.start': ['cleanup', 'start'],
  'task.cleanup.end': ['cleanup', 'end'],
  'task.shield.start': ['shield', 'start'],
  'task.shield.end': ['shield', 'end'],
};

/** Cancel request times and cleanup/shield steps of a task, paired in time order. */
function stepsOf(judged: JudgedTask): { cancels: bigint[]; steps: CompactStep[] } {
  const cancels: bigint[] = [];
  const steps: CompactStep[] = [];
  const events = [...judged.task.span.events].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  for (const e of events) {
    if (e.name === 'task.cancel_requested') {
      cancels.push(e.time);
      continue;
    }
    const step = STEP_EVENTS[e.name];
    if (!step) continue;
    const [kind, edge] = step;
    const name = String(e.attributes['cleanup.name'] ?? kind);
    if (edge === 'start') {
      steps.push([kind, name, e.time, null, null]);
    } else {
      let open: CompactStep | undefined;
      for (let i = steps.length - 1; i >= 0 && !open; i--) if (steps[i][0] === kind && steps[i][1] === name && steps[i][3] === null) open = steps[i];
      const outcome = String(e.attributes[`${kind}.outcome`] ?? 'ok');
      if (open) {
        open[3] = e.time;
        open[4] = outcome;
      } else {
        steps.push([kind, name, e.time, e.time, outcome]);
      }
    }
  }
  return { cancels, steps };
}

/**
 * The shutdown view with tasks as positional tuples and creation sites interned
 * (`?tasks=compact`): a tenth of the full size, so a 100,000-task shutdown loads quickly.
 * Each task: [spanId, name, verdict, siteIndex, createdAt, endedAt, finalState, snapshot 0|1, cancelTimes[], steps[]].
 */
export function compactReportJson(report: ShutdownReport) {
  const { tasks: _full, ...rest } = reportJson({ ...report, tasks: [] });
  const sites: { coroutine?: string; filepath?: string; lineno?: number; function?: string }[] = [];
  const siteIndex = new Map<string, number>();
  const tasks = report.tasks.map((judged) => {
    const { task } = judged;
    const key = `${task.coroutine ?? ''}\u0000${task.code.filepath ?? ''}\u0000${task.code.lineno ?? ''}\u0000${task.code.function ?? ''}`;
    let index = siteIndex.get(key);
    if (index === undefined) {
      index = sites.length;
      siteIndex.set(key, index);
      sites.push({ coroutine: task.coroutine, ...task.code });
    }
    const { cancels, steps } = stepsOf(judged);
    return [task.spanId, task.name, judged.verdict, index, task.createdAt, task.endTime, task.finalState ?? 'pending', task.snapshot ? 1 : 0, cancels, steps];
  });
  return { ...rest, sites, tasks };
}
