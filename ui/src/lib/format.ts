// Presentation of numbers, times and sizes. Pure functions: `now` is a parameter wherever the
// answer depends on the clock, so they are testable without faking time.

/** Returns "just now", "5 min ago", "3 h ago", "2 days ago" (or "in 5 min" for the future). */
export function relativeTime(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "never";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const diff = Math.round((now - t) / 1000);
  const future = diff < 0;
  const s = Math.abs(diff);
  let text: string;
  // Within seconds either way is "just now": the page's clock ticks once a second.
  if (s < 10) return "just now";
  else if (s < 60) text = `${s} s`;
  else if (s < 3600) text = `${Math.floor(s / 60)} min`;
  else if (s < 86400) text = `${Math.floor(s / 3600)} h`;
  else {
    const d = Math.floor(s / 86400);
    text = d === 1 ? "1 day" : `${d} days`;
  }
  return future ? `in ${text}` : `${text} ago`;
}

/** Returns a local date and time ("2026-11-22 01:45:30"). */
export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
  );
}

/** Returns a local date ("2026-11-22"). */
export function dateOnly(iso: string | null | undefined): string {
  const full = dateTime(iso);
  return /^\d{4}-\d\d-\d\d /.test(full) ? full.slice(0, 10) : full;
}

/** Returns the hour of a bucket in local time ("14:00"). */
export function hourLabel(iso: string): string {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, "0")}:00`;
}

/** Returns a duration in seconds as "0.42 s", "12.3 s", "4 min 10 s", "2 h 5 min". */
export function duration(sec: number | null | undefined): string {
  if (sec === null || sec === undefined || Number.isNaN(sec)) return "—";
  if (sec < 10) return `${sec.toFixed(2)} s`;
  if (sec < 60) return `${sec.toFixed(1)} s`;
  const s = Math.round(sec);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** Returns the time left until `iso` as "mm:ss" or "h:mm:ss"; "0:00" once passed. */
export function countdown(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "—";
  const left = Math.max(0, Math.ceil((Date.parse(iso) - now) / 1000));
  const h = Math.floor(left / 3600);
  const m = Math.floor((left % 3600) / 60);
  const s = left % 60;
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** Returns a byte count as "812 B", "4.2 KiB", "1.5 MiB". */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** Returns the first 8 characters of a commit or blob id. */
export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : "—";
}

/** Returns a percentage with at most one decimal ("95.2 %", "100 %"). */
export function percent(v: number): string {
  return `${Number.isInteger(v) ? v : v.toFixed(1)} %`;
}

/** Returns the last path component ("/home/me/notes" → "notes"). */
export function baseName(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  const i = trimmed.lastIndexOf("/");
  return i >= 0 ? trimmed.slice(i + 1) || trimmed : trimmed;
}

/** Returns an event type as words ("sync_success" → "Sync success"). */
export function eventLabel(type: string): string {
  const s = type.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A piece of a message: plain text, or code the message marked with backticks. */
export interface Span {
  text: string;
  code: boolean;
}

/**
 * Splits a message into text and `code` spans (the backend writes commands and paths in
 * backticks: "create the repository (`git init --bare`)"). An unpaired backtick stays text.
 */
export function codeSpans(message: string): Span[] {
  const out: Span[] = [];
  const re = /`([^`]+)`/g;
  let at = 0;
  for (const m of message.matchAll(re)) {
    if (m.index > at) out.push({ text: message.slice(at, m.index), code: false });
    out.push({ text: m[1], code: true });
    at = m.index + m[0].length;
  }
  if (at < message.length) out.push({ text: message.slice(at), code: false });
  return out;
}
