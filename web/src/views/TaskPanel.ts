import { type Selection, select } from 'd3-selection';
import { ATTR, EVENT } from '../../../contract/contract.js';
import type { ApiCodeSite, ApiTask } from '../api/types.js';
import { explainFinding, explainVerdict } from '../layout/explain.js';
import { nsToMs } from '../layout/nsToMs.js';
import { siteLabel, toTimelineTask } from '../layout/timelineTask.js';
import { isBad } from '../layout/verdicts.js';
import { formatDuration, formatTime, valueText, zoneLabel } from './format.js';

type Div = Selection<HTMLDivElement, unknown, null, undefined>;
type Any = Selection<HTMLElement, unknown, null, undefined>;

/** Appends a `file:line` link that copies itself to the clipboard. */
export function copySite(parent: Any | Div, site: ApiCodeSite | undefined, cls = ''): void {
  const text = siteLabel(site);
  if (!text) {
    parent.append('span').attr('class', 'muted').text('unknown');
    return;
  }
  copyLink(parent, text, `copy-site ${cls}`.trim(), 'copy file:line');
  if (site?.function) parent.append('span').attr('class', 'fn').text(` in ${site.function}`);
}

/** Appends a link showing `text` that copies it to the clipboard (or selects it where the Clipboard API is not allowed). */
export function copyLink(parent: Any | Div, text: string, cls: string, title: string): void {
  const a = parent.append('a').attr('href', '#').attr('class', cls).attr('title', title).text(text);
  a.on('click', (ev: MouseEvent) => {
    ev.preventDefault();
    const done = () => {
      a.classed('copied', true);
      setTimeout(() => a.classed('copied', false), 1200);
    };
    // the Clipboard API needs a secure context; fall back to selecting the text for Ctrl+C
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, () => selectText(a.node()!));
    else selectText(a.node()!);
  });
}

/** Links of the task panel that depend on the rest of the shutdown and on the server's options. */
export interface PanelLinks {
  /** the hash of the parent task's panel, when the parent is in the same shutdown */
  parentHref?: string;
  /** the URL template of the user's tracing tool (`{traceId}`, `{spanId}`) */
  traceLink?: string | null;
}

/** A trace link template filled in for one span (ids are hex, so they need no escaping beyond encodeURIComponent). */
export function traceUrl(template: string, traceId: string, spanId: string): string {
  return template.replaceAll('{traceId}', encodeURIComponent(traceId)).replaceAll('{spanId}', encodeURIComponent(spanId));
}

/** The source line of the `except`/`catch` that ate the cancel, when the recorder sent it. */
function swallowLineOf(task: ApiTask): string | undefined {
  const fromSite = (task.swallowSite as { line?: string } | undefined)?.line;
  if (fromSite) return fromSite;
  const attr = task.attributes?.[ATTR.swallowLine];
  return attr === undefined ? undefined : valueText(attr);
}

function selectText(node: Node): void {
  const range = document.createRange();
  range.selectNodeContents(node);
  const sel = window.getSelection();
  sel?.removeAllRanges();
  sel?.addRange(range);
}

function field(parent: Div, label: string): Div {
  const row = parent.append('div').attr('class', 'field');
  row.append('span').attr('class', 'field-label').text(label);
  return row.append('span').attr('class', 'field-value') as unknown as Div;
}

/**
 * The task panel: the verdict explained in one sentence with the fix that applies, each finding
 * with the server's message and why it matters, creation site, cancel sites with who cancelled,
 * swallow site, cleanup steps with outcomes, the stack of a survivor, every event and attribute.
 * All telemetry text goes in through .text().
 */
export function renderTaskPanel(container: HTMLElement, task: ApiTask, originNs: bigint, onClose: () => void, links: PanelLinks = {}): void {
  container.replaceChildren();
  const root = select(container).append('div').attr('class', 'task-panel').attr('data-span-id', task.spanId) as Div;
  const head = root.append('div').attr('class', 'panel-head');
  // focusable so that opening a task moves the keyboard focus into the panel
  head.append('h2').attr('class', 'task-name').attr('tabindex', -1).text(task.name);
  head.append('button').attr('type', 'button').attr('class', 'close').attr('aria-label', 'close task panel').text('×').on('click', onClose);
  root.append('p').attr('class', 'kbd-hint muted').text('j / k or ↓ / ↑: next / previous task · Esc: close');

  const v = explainVerdict(task.verdict);
  const verdict = root.append('section').attr('class', `verdict-box verdict-${task.verdict}`);
  verdict
    .append('span')
    .attr('class', `badge ${isBad(task.verdict) ? 'bad' : 'ok'} verdict-${task.verdict}`)
    .text(task.verdict);
  verdict.append('p').attr('class', 'what').text(v.what);
  // a good verdict with findings (an interrupted cleanup) still has something to fix: say where
  const findingCount = task.findings?.length ?? 0;
  verdict
    .append('p')
    .attr('class', 'fix')
    .text(
      !isBad(task.verdict) && findingCount > 0
        ? `The verdict is fine, but ${findingCount === 1 ? 'one finding below needs' : `${findingCount} findings below need`} a fix.`
        : `Fix: ${v.fix}`,
    );

  if (task.findings?.length) {
    const f = root.append('section').attr('class', 'findings');
    f.append('h3').text('Findings');
    const items = f.selectAll('div.finding').data(task.findings).join('div').attr('class', 'finding');
    items
      .append('span')
      .attr('class', 'badge warn')
      .text((d) => d.kind);
    // the server's message says what happened and the fix; the explanation says why it matters
    items
      .append('p')
      .attr('class', 'message')
      .text((d) => d.message);
    items
      .append('p')
      .attr('class', 'what')
      .text((d) => explainFinding(d.kind).what);
  }

  const facts = root.append('section').attr('class', 'facts') as unknown as Div;
  facts.append('h3').text('Where');
  copySite(field(facts, 'created at'), task.code, 'creation-site');
  if (task.swallowSite) {
    const s = field(facts, 'swallowed at');
    copySite(s, task.swallowSite, 'swallow-site');
    const line = swallowLineOf(task);
    if (line !== undefined) facts.append('pre').attr('class', 'swallow-line').attr('aria-label', 'source line that caught the cancel').text(line);
  }
  field(facts, 'coroutine').text(task.coroutine ?? '–');
  field(facts, 'final state').text(`${task.finalState ?? '–'}${task.snapshot ? ' (snapshot: still open)' : ''}`);
  field(facts, 'created').text(`${formatTime(task.createdAt)} (${formatDuration(nsToMs(task.createdAt, originNs))} from signal)`);
  field(facts, 'cancel requested').text(
    task.cancelRequestedAt ? `${formatTime(task.cancelRequestedAt)} (+${formatDuration(nsToMs(task.cancelRequestedAt, originNs))} after signal)` : 'never',
  );
  // a snapshot of a task still pending has no end yet: its "end" is only when it was last seen
  const stillOpen = task.snapshot && task.finalState === 'pending';
  field(facts, stillOpen ? 'last seen (never ended)' : 'ended').text(
    `${formatTime(task.endedAt)}${task.cancelRequestedAt ? ` (${formatDuration(nsToMs(task.endedAt, BigInt(task.cancelRequestedAt)))} after cancel)` : ''}`,
  );
  facts.append('div').attr('class', 'zone muted').text(`times in ${zoneLabel()}`);
  field(facts, 'service / instance').text(`${task.service} / ${task.instance}`);
  if (task.traceId) {
    const t = field(facts, 'trace');
    copyLink(t, task.traceId, 'copy-trace-id', 'copy the trace id');
    if (links.traceLink)
      t.append('a')
        .attr('class', 'trace-link')
        .attr('href', traceUrl(links.traceLink, task.traceId, task.spanId))
        .attr('target', '_blank')
        .attr('rel', 'noopener noreferrer')
        .text(' open in tracing tool ↗');
  }
  field(facts, 'span id').text(task.spanId);
  if (task.taskId) field(facts, 'task id').text(task.taskId);
  if (task.parentTaskId) {
    const p = field(facts, 'parent task');
    if (links.parentHref) p.append('a').attr('class', 'parent-link').attr('href', links.parentHref).text(task.parentTaskId);
    else p.text(`${task.parentTaskId} (not in this shutdown)`);
  }
  if (task.groupId) field(facts, 'group').text(task.groupId);

  const cancels = (task.events ?? []).filter((e) => e.name === EVENT.cancelRequested);
  if (cancels.length) {
    const c = root.append('section').attr('class', 'cancels');
    c.append('h3').text(`Cancel requests (${cancels.length})`);
    for (const e of cancels) {
      const row = c.append('div').attr('class', 'cancel') as unknown as Div;
      row
        .append('span')
        .attr('class', 'time')
        .text(`+${formatDuration(nsToMs(e.time, originNs))} `);
      row.append('span').text('by ');
      const a = e.attributes ?? {};
      const lineno = a[ATTR.codeLineno];
      const filepath = a[ATTR.codeFilepath];
      const fn = a[ATTR.codeFunction];
      copySite(
        row,
        {
          filepath: typeof filepath === 'string' ? filepath : undefined,
          lineno: typeof lineno === 'number' ? lineno : lineno !== undefined ? Number(lineno) : undefined,
          function: typeof fn === 'string' ? fn : undefined,
        },
        'cancel-site',
      );
      if (a[ATTR.cancelMessage] !== undefined)
        row
          .append('span')
          .attr('class', 'msg')
          .text(` “${valueText(a[ATTR.cancelMessage])}”`);
    }
  }

  const steps = toTimelineTask(task, originNs, Number.NEGATIVE_INFINITY).steps;
  if (steps.length) {
    const s = root.append('section').attr('class', 'steps');
    s.append('h3').text('Cleanup and shield steps');
    const items = s
      .selectAll('div.step')
      .data(steps)
      .join('div')
      .attr('class', (d) => `step outcome-${d.outcome}`);
    items
      .append('span')
      .attr('class', (d) => `badge ${d.outcome === 'ok' ? 'ok' : 'bad'}`)
      .text((d) => d.outcome);
    items.append('span').text((d) => ` ${d.kind} “${d.name}” ${formatDuration(d.end - d.start)} from +${formatDuration(d.start)}`);
  }

  const stack = task.swallowSite?.stack ?? lastStack(task);
  if (stack) {
    const st = root.append('section').attr('class', 'stack');
    st.append('h3').text(task.verdict === 'survivor' ? 'Where it is stuck now' : 'Stack');
    st.append('pre').text(stack);
  }

  const ev = root.append('section').attr('class', 'events');
  ev.append('h3').text(`Events (${task.events?.length ?? 0})`);
  const rows = ev
    .append('table')
    .selectAll('tr')
    .data(task.events ?? [])
    .join('tr');
  rows
    .append('td')
    .attr('class', 'time')
    .text((d) => `+${formatDuration(nsToMs(d.time, originNs))}`);
  rows
    .append('td')
    .attr('class', 'ev-name')
    .text((d) => d.name);
  rows
    .append('td')
    .attr('class', 'ev-attrs')
    .text((d) =>
      Object.entries(d.attributes ?? {})
        .map(([k, val]) => `${k}=${valueText(val)}`)
        .join('  '),
    );

  const at = root.append('section').attr('class', 'attributes');
  at.append('h3').text('Attributes');
  const arows = at
    .append('table')
    .selectAll('tr')
    .data(Object.entries(task.attributes ?? {}))
    .join('tr');
  arows
    .append('td')
    .attr('class', 'attr-key')
    .text((d) => d[0]);
  arows
    .append('td')
    .attr('class', 'attr-value')
    .text((d) => valueText(d[1]));
}

function lastStack(task: ApiTask): string | undefined {
  const events = task.events ?? [];
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e.name === EVENT.stack && e.attributes?.[ATTR.stack] !== undefined) return valueText(e.attributes[ATTR.stack]);
    if (e.name === EVENT.exception && e.attributes?.[ATTR.exceptionStacktrace] !== undefined) return valueText(e.attributes[ATTR.exceptionStacktrace]);
  }
  return undefined;
}
