import { type SettledJudgment, settledJudgmentOf } from '../collector/forward/settledJudgment.js';
import type { ShutdownViews } from './api/ShutdownViews.js';
import type { Store } from './store/Store.js';

/**
 * The settled judgment of one shutdown read from `store` through `views`; undefined when it is not in
 * the store (any more). The JudgmentWatcher's `judge`, called in the UI worker when there is one
 * (uiWorker.ts), else in the main thread (service.ts).
 */
export async function judgeSettled(
  store: Pick<Store, 'getShutdown'>,
  views: Pick<ShutdownViews, 'report'>,
  shutdownId: string,
): Promise<SettledJudgment | undefined> {
  const shutdown = await store.getShutdown(shutdownId);
  return shutdown && settledJudgmentOf(await views.report(shutdown));
}
