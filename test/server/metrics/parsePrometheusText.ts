/**
 * A small, strict parser of the Prometheus text exposition format (version 0.0.4), for tests: it
 * throws on anything a Prometheus server would refuse or that breaks the format's rules, so that a
 * scrape that parses here is one Prometheus can ingest.
 *
 * Checked: metric and label name syntax; quoted label values with only the \\ \" \n escapes; a
 * float value (or +Inf, -Inf, NaN) and an optional integer timestamp; one HELP and one TYPE per
 * family, TYPE before its samples; the samples of a family together; no series twice; histogram
 * families made of `_bucket` (with `le`, cumulative, ending at +Inf), `_sum` and `_count`, where the
 * +Inf bucket equals the count.
 */

/** One sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One metric family. */
export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

/** Parses a scrape; throws an Error naming the line for any violation. */
export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seenSeries = new Set<string>();
  const closed = new Set<string>();
  let current: string | undefined;
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, i) => {
    const where = `line ${i + 1} (${JSON.stringify(line.slice(0, 80))})`;
    const fail = (why: string): never => {
      throw new Error(`${where}: ${why}`);
    };
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return; // an ordinary comment
      const [, kind, name, rest = ''] = m;
      if (!METRIC_NAME.test(name)) fail(`bad metric name ${name}`);
      if (closed.has(name)) fail(`${kind} for ${name} after its samples ended`);
      const family = families.get(name) ?? { name, type: 'untyped' as const, samples: [] };
      if (family.samples.length > 0) fail(`${kind} for ${name} after its samples`);
      if (kind === 'HELP') {
        if (family.help !== undefined) fail(`second HELP for ${name}`);
        family.help = rest;
      } else {
        if (!TYPES.has(rest)) fail(`unknown type ${rest}`);
        if ((family as { typed?: boolean }).typed) fail(`second TYPE for ${name}`);
        family.type = rest as Family['type'];
        (family as { typed?: boolean }).typed = true;
      }
      families.set(name, family);
      if (current !== name && current !== undefined) closed.add(current);
      current = name;
      return;
    }
    const sample = parseSample(line, fail);
    const familyName = familyOf(sample.name, families);
    if (current !== familyName) {
      if (current !== undefined) closed.add(current);
      if (closed.has(familyName)) fail(`samples of ${familyName} are not together`);
      current = familyName;
    }
    const family = families.get(familyName) ?? { name: familyName, type: 'untyped' as const, samples: [] };
    families.set(familyName, family);
    if (family.type === 'histogram' && !HISTOGRAM_SUFFIXES.some((s) => sample.name === familyName + s)) fail(`${sample.name} is not a histogram sample`);
    if ((family.type === 'counter' || family.type === 'gauge') && sample.name !== familyName) fail(`${sample.name} in family ${familyName}`);
    const key = `${sample.name}{${Object.entries(sample.labels)
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(',')}}`;
    if (seenSeries.has(key)) fail(`series ${key} appears twice`);
    seenSeries.add(key);
    family.samples.push(sample);
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** The family a sample belongs to: its own name, or a histogram/summary family it is a suffix of. */
function familyOf(name: string, families: Map<string, Family>): string {
  for (const suffix of HISTOGRAM_SUFFIXES) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const family = families.get(base);
      if (family && (family.type === 'histogram' || family.type === 'summary')) return base;
    }
  }
  return name;
}

function parseSample(line: string, fail: (why: string) => never): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)(?: (-?\d+))?$/.exec(line);
  if (!m) fail('not a sample line: name{labels} value [timestamp]');
  const [, name, rawLabels, rawValue] = m as RegExpExecArray;
  return { name, labels: rawLabels ? parseLabels(rawLabels, fail) : {}, value: parseValue(rawValue, fail) };
}

function parseLabels(text: string, fail: (why: string) => never): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 1;
  const end = text.length - 1;
  while (i < end) {
    const eq = text.indexOf('=', i);
    if (eq < 0) fail('label without =');
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) fail(`bad label name ${name}`);
    if (name in labels) fail(`label ${name} twice`);
    if (text[eq + 1] !== '"') fail(`label ${name} value is not quoted`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      if (j >= end) fail(`label ${name} value is not closed`);
      const c = text[j];
      if (c === '"') break;
      if (c === '\\') {
        const next = text[j + 1];
        if (next === '\\') value += '\\';
        else if (next === '"') value += '"';
        else if (next === 'n') value += '\n';
        else fail(`bad escape \\${next} in label ${name}`);
        j += 2;
      } else {
        value += c;
        j++;
      }
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (i !== end) fail(`expected , or } after label ${name}`);
  }
  return labels;
}

function parseValue(text: string, fail: (why: string) => never): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) fail(`bad value ${text}`);
  return Number(text);
}

function checkHistogram(family: Family): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (s.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      entry.buckets.push([
        parseValue(le, (why) => {
          throw new Error(`${family.name}: ${why}`);
        }),
        s.value,
      ]);
    } else if (s.name.endsWith('_count')) entry.count = s.value;
    else entry.sum = s.value;
  }
  for (const [key, { buckets, count, sum }] of series) {
    if (count === undefined || sum === undefined) throw new Error(`${family.name}${key}: _count or _sum missing`);
    if (buckets.length === 0 || buckets[buckets.length - 1][0] !== Number.POSITIVE_INFINITY) throw new Error(`${family.name}${key}: no +Inf bucket last`);
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i][0] <= buckets[i - 1][0]) throw new Error(`${family.name}${key}: bucket bounds not increasing`);
      if (buckets[i][1] < buckets[i - 1][1]) throw new Error(`${family.name}${key}: buckets not cumulative`);
    }
    if (buckets[buckets.length - 1][1] !== count) throw new Error(`${family.name}${key}: +Inf bucket ${buckets[buckets.length - 1][1]} is not _count ${count}`);
  }
}

/** The value of one series of a parsed scrape (0 when absent); labels must match exactly those given. */
export function seriesValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name !== name) continue;
      const keys = Object.keys(s.labels);
      if (keys.length === Object.keys(labels).length && keys.every((k) => s.labels[k] === labels[k])) return s.value;
    }
  }
  return 0;
}
