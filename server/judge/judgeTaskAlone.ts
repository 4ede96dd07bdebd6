import type { TaskRecord, Verdict } from '../../contract/records.js';
import { judgeTask } from './judgeTask.js';

/**
 * The verdict of a task judged with no shutdown window: what the store keeps for
 * `/api/tasks?verdict=`. A pending task is an orphan, or a survivor if it was cancelled.
 */
export function judgeTaskAlone(task: TaskRecord): Verdict {
  return judgeTask(task).verdict;
}
