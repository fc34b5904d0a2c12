// Plain-text tables for the CLI's list commands: columns padded to the widest
// cell. A cell is kept on one line (a multi-line build error in a cell would
// break every row after it), its line breaks shown as " / ".
export function table(rows: string[][]): string {
  const cells = rows.map((r) => r.map((c) => c.replace(/\s*\r?\n\s*/g, ' / ')));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
