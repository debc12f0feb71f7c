/** A column of {@link renderTable}. */
export interface Column {
  readonly header: string;
  /** Right-align (numbers). */
  readonly align?: 'left' | 'right';
  /**
   * May be cut (with an ellipsis) when the table is wider than the terminal.
   * Flexible columns give up width from the last one backwards.
   */
  readonly flexible?: boolean;
  /** A flexible column is never cut below this many characters (default 8). */
  readonly minWidth?: number;
}

const GAP = '  ';
const ELLIPSIS = '…';

/** Width of `text` on a terminal, counting code points (wide East Asian characters count as one). */
export function displayWidth(text: string): number {
  let width = 0;
  for (const _ of text) width++;
  return width;
}

/** Cuts `text` to at most `width` characters, ending in an ellipsis when cut. */
export function truncate(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 0) return '';
  return [...text].slice(0, width - 1).join('') + ELLIPSIS;
}

function pad(text: string, width: number, align: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(text)));
  return align === 'right' ? fill + text : text + fill;
}

/**
 * Renders rows as an aligned plain-text table with a header line, two spaces
 * between columns and no trailing spaces. When `maxWidth` is given and the
 * table is wider, flexible columns are cut (last first) down to their
 * `minWidth`. Cells must be single-line (see `printable`).
 */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[], maxWidth?: number): string {
  const widths = columns.map((c, i) => Math.max(displayWidth(c.header), ...rows.map((r) => displayWidth(r[i] ?? ''))));
  if (maxWidth !== undefined) {
    let excess = widths.reduce((a, b) => a + b, 0) + GAP.length * (columns.length - 1) - maxWidth;
    for (let i = columns.length - 1; i >= 0 && excess > 0; i--) {
      const column = columns[i]!;
      if (column.flexible !== true) continue;
      const floor = Math.max(column.minWidth ?? 8, 1);
      const give = Math.min(excess, Math.max(0, widths[i]! - floor));
      widths[i] = widths[i]! - give;
      excess -= give;
    }
  }
  const line = (cells: readonly string[]): string =>
    columns
      .map((c, i) => pad(truncate(cells[i] ?? '', widths[i]!), i === columns.length - 1 && c.align !== 'right' ? 0 : widths[i]!, c.align ?? 'left'))
      .join(GAP)
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)].map((l) => `${l}\n`).join('');
}

/**
 * Renders `[label, value]` pairs as two aligned columns without a header (for
 * one record: stats, a single entry). A multi-line value continues indented
 * under its first line; with `maxWidth`, single-line values are cut to fit.
 */
export function renderPairs(pairs: readonly (readonly [string, string])[], maxWidth?: number): string {
  const labelWidth = Math.max(0, ...pairs.map(([label]) => displayWidth(label)));
  const valueWidth = maxWidth === undefined ? undefined : Math.max(8, maxWidth - labelWidth - GAP.length);
  const indent = ' '.repeat(labelWidth + GAP.length);
  return pairs
    .map(([label, value]) => {
      const lines = value.split('\n');
      const first = lines.length === 1 && valueWidth !== undefined ? truncate(value, valueWidth) : lines[0]!;
      return [`${pad(label, labelWidth, 'left')}${GAP}${first}`, ...lines.slice(1).map((l) => indent + l)].map((l) => `${l.trimEnd()}\n`).join('');
    })
    .join('');
}
