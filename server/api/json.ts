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
