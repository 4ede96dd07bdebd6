import { type SettledJudgment, settledJudgmentFrom } from '../collector/forward/settledJudgment.js';
import { quietWhenClosed } from './api/answers.js';
import type { ShutdownViews } from './api/ShutdownViews.js';
import type { BriefReport } from './judge/judgeBrief.js';
import type { Store } from './store/Store.js';

/**
 * The settled judgment of one shutdown read from `store` through `views` (its brief report: columns,
 * no whole task records, so a million tasks fit); undefined when it is not in the store (any more).
 * Then, in the background, its answers are derived and kept (ShutdownViews.derive).
 * The JudgmentWatcher's `judge`, called in the UI worker when there is one (uiWorker.ts), else in the
 * main thread (service.ts).
 */
export async function judgeSettled(
  store: Pick<Store, 'getShutdown'>,
  views: Pick<ShutdownViews, 'briefReport' | 'derive'>,
  shutdownId: string,
  onError: (error: unknown) => void = (error) => console.error('canceltrace:', error),
): Promise<SettledJudgment | undefined> {
  const shutdown = await store.getShutdown(shutdownId);
  if (!shutdown) return undefined;
  const judgment = settledJudgmentOfBrief(await views.briefReport(shutdown));
  // A settled shutdown's answers are derived now (from the report just judged), so that reading it later,
  // even after a restart, costs no judging.
  void views.derive(shutdown).catch(quietWhenClosed(onError));
  return judgment;
}

/** The settled judgment of a brief report: what settledJudgmentOf gives of the whole report (a test checks). */
export function settledJudgmentOfBrief(brief: BriefReport): SettledJudgment {
  const t = brief.tasks;
  return settledJudgmentFrom(
    brief,
    t.count,
    (k) => t.verdict[t.order[k]],
    (k) => {
      const i = t.order[k];
      const endTime = t.ended.at(i);
      if (endTime === undefined) throw new Error(`canceltrace: task ${t.spanId[i]} of shutdown ${brief.shutdown.id} has no end time`);
      return {
        spanId: t.spanId[i],
        traceId: t.traces.values[t.trace[i]],
        name: t.name[i],
        endTime,
        swallowSite: t.swallowSiteOf(i),
        findings: [...t.findingKindsOf(i)],
      };
    },
  );
}
