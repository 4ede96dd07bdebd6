/** Formats a duration in ms for people: `850 ms`, `1.25 s`, `2 min 5 s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  const a = Math.abs(ms);
  if (a < 1) return `${ms.toFixed(2)} ms`;
  if (a < 1000) return `${Math.round(ms)} ms`;
  if (a < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const min = Math.floor(a / 60_000);
  return `${ms < 0 ? '-' : ''}${min} min ${Math.round((a - min * 60_000) / 1000)} s`;
}

/** Formats a unix-ns string as a local date and time (ms precision). */
export function formatTime(ns: string | undefined): string {
  if (ns === undefined || !/^\d+$/.test(ns)) return '–';
  const d = new Date(Number(BigInt(ns) / 1_000_000n));
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** A telemetry value as display text (objects as JSON); never HTML. */
export function valueText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The viewer's time zone as shown beside absolute times: its name and UTC offset, e.g. `Europe/Paris (UTC+01:00)`. */
export function zoneLabel(date = new Date()): string {
  const name = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
  const off = -date.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return `${name} (UTC${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')})`;
}
