import type { Finding, JudgedTask, TaskFindingKind, TaskRecord, Verdict } from '../../contract/records.js';
import { judgeTask, type TaskWindow } from './judgeTask.js';
import { sameJson } from './sameJson.js';
import { judgeEveryWindow, judgeOptionsKey, type TaskView, taskViewOf } from './taskView.js';

export { judgeOptionsKey };

import { type JudgeOptions, resolveJudgeOptions } from './options.js';

/** One judgment of a task as stored: a {@link JudgedTask} without its record, times as decimal text. */
interface StoredPart {
  verdict: Verdict;
  findings: Finding<TaskFindingKind>[];
  cancelRequestedAt?: string;
  swallowSite?: JudgedTask['swallowSite'];
}

/**
 * What the store keeps of a task's judgment, judged once when its record is written (issue 10, "judge
 * once and keep the result"). A task's judgment depends on its shutdown's window in only two ways
 * (judgeTask): a closed window counts a task that ends after the window's end (plus the clock
 * tolerance) as pending, and a closed window counts a pending snapshot's unfinished cleanups. So the
 * three possible judgments are kept, the second and third only where they differ from the first:
 * - `open`: in an open window, or alone (the two are the same judgment);
 * - `inTime`: in a closed window that the task ended within;
 * - `late`: in a closed window that ended before the task did.
 * `options` names the judge options it was made with; another set of options makes it stale.
 */
export interface StoredJudgment {
  options: string;
  open: StoredPart;
  inTime?: StoredPart;
  late?: StoredPart;
}

function partOf(judged: JudgedTask): StoredPart {
  const part: StoredPart = { verdict: judged.verdict, findings: judged.findings };
  if (judged.cancelRequestedAt !== undefined) part.cancelRequestedAt = judged.cancelRequestedAt.toString();
  if (judged.swallowSite !== undefined) part.swallowSite = judged.swallowSite;
  return part;
}

/**
 * Judges a task once for every window it can be read in, by calling {@link judgeTask} itself (the
 * rules stay in one place): what the store writes beside the record. Returns the verdict the task
 * gets judged alone (the `/api/tasks?verdict=` column), the JSON text of its {@link StoredJudgment}
 * (what the full views read) and that of its {@link TaskView} (what the brief views read).
 */
export function judgeAtIngest(task: TaskRecord, options?: Partial<JudgeOptions>): { verdict: Verdict; text: string; view: string } {
  const judged = judgeEveryWindow(task, options);
  const open = partOf(judged.open);
  const stored: StoredJudgment = { options: judgeOptionsKey(options), open };
  const inTime = partOf(judged.inTime);
  if (!sameJson(inTime, open)) stored.inTime = inTime;
  const late = partOf(judged.late);
  if (!sameJson(late, open)) stored.late = late;
  return { verdict: open.verdict, text: JSON.stringify(stored), view: JSON.stringify(taskViewOf(task, judged, options)) };
}

/**
 * The task's judgment in `window` from its stored judgment: the same {@link JudgedTask} that
 * `judgeTask(task, window, options)` gives, without judging again. Falls back to judging when
 * nothing usable is stored (a row written before judgments were kept, or under other options).
 */
export function judgedFromStored(task: TaskRecord, text: string | null | undefined, window: TaskWindow, options?: Partial<JudgeOptions>): JudgedTask {
  let stored: StoredJudgment | undefined;
  if (text) {
    try {
      stored = JSON.parse(text) as StoredJudgment;
    } catch {
      stored = undefined;
    }
  }
  if (!stored?.open || stored.options !== judgeOptionsKey(options)) return judgeTask(task, window, options);
  const { clockToleranceNs } = resolveJudgeOptions(options);
  const part = window.open ? stored.open : task.endTime > window.end + clockToleranceNs ? (stored.late ?? stored.open) : (stored.inTime ?? stored.open);
  const judged: JudgedTask = { task, verdict: part.verdict, findings: part.findings };
  if (part.cancelRequestedAt !== undefined) judged.cancelRequestedAt = BigInt(part.cancelRequestedAt);
  if (part.swallowSite !== undefined) judged.swallowSite = part.swallowSite;
  return judged;
}
