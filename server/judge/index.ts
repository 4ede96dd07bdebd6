/**
 * The judgment engine: pure functions from task and shutdown records to verdicts and findings
 * (docs/conventions.md, "Verdicts" and "Judgment rules"). No I/O: the store feeds it, the API shows it.
 */
export { judgeTask, type TaskWindow } from './judgeTask.js';
export { judgeTaskAlone } from './judgeTaskAlone.js';
export { judgeShutdown } from './judgeShutdown.js';
export { dedupeRecords, type DedupeView } from './dedupeRecords.js';
export { DEFAULT_JUDGE_OPTIONS, DEFAULT_SLOW_CANCEL_NS, resolveJudgeOptions, type JudgeOptions } from './options.js';
export { cancelAccount, UNCANCEL_HANDOFF_ATTR, type CancelAccount } from './cancelAccount.js';
export { isCancellation } from './isCancellation.js';
export { finalStateOf } from './finalStateOf.js';
export { sortEvents } from './sortEvents.js';
export { swallowSiteOf, parseSiteAttr, innermostFrame, type SwallowSite } from './swallowSiteOf.js';
