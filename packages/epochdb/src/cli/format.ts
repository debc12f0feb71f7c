import { inspect } from 'node:util';

/** Characters that would break a line or a terminal: C0 and C1 controls, DEL, and the Unicode line and paragraph separators. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** `text` with control characters escaped (`\n`, `\t`, `\u001b`, ...), so that it stays on one line and cannot drive the terminal. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    switch (c) {
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      default:
        return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    }
  });
}

/** A value on one line, abbreviated (deep structures, long arrays and strings), for table cells. */
export function formatValueInline(value: unknown): string {
  return printable(inspect(value, { depth: 3, breakLength: Infinity, compact: true, maxArrayLength: 20, maxStringLength: 200, colors: false }));
}

/** A value in full, over as many lines as it needs, for a single entry. */
export function formatValueFull(value: unknown, width: number | undefined): string {
  return inspect(value, { depth: Infinity, breakLength: width ?? 80, maxArrayLength: Infinity, maxStringLength: Infinity, colors: false })
    .split('\n')
    .map(printable)
    .join('\n');
}

/** An optional field for a table cell: `-` when absent. */
export function orDash(text: string | number | undefined): string {
  return text === undefined ? '-' : printable(String(text));
}

/** Milliseconds as a short human duration: `950ms`, `42s`, `3m 20s`, `5h 02m`, `12d 3h`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** An expiry time: ISO date and how far away it is, e.g. `2026-11-22T10:00:00.000Z (in 59s)`. */
export function formatExpiry(expiresAt: number | undefined, now: number): string {
  if (expiresAt === undefined) return '-';
  const date = new Date(expiresAt);
  // Beyond ±8.64e15 ms a Date is invalid: show the number itself.
  const iso = Number.isNaN(date.getTime()) ? String(expiresAt) : date.toISOString();
  return expiresAt > now ? `${iso} (in ${formatDuration(expiresAt - now)})` : `${iso} (expired)`;
}

/** An expiry time relative to now, for table cells: `in 59s`, `expired`, or `-` without one. */
export function formatExpiryShort(expiresAt: number | undefined, now: number): string {
  if (expiresAt === undefined) return '-';
  return expiresAt > now ? `in ${formatDuration(expiresAt - now)}` : 'expired';
}

/** A byte count with a binary unit: `812 B`, `4.0 KiB`, `16.0 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
