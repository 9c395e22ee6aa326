import type { Latency } from './stats';

/** One measured figure of one target. `value` is what ratios compare. */
export interface Cell {
  text: string;
  value?: number;
}

/** A row of the table: which way is better decides how the ratio reads. */
export interface Row {
  key: string;
  label: string;
  better: 'lower' | 'higher' | 'none';
}

export class Results {
  readonly rows: Row[] = [];
  private readonly cells = new Map<string, Map<string, Cell>>();
  /** QEMU's figure that stands in for a missing one (no no-ack mode): key -> fallback key. */
  readonly fallback = new Map<string, string>();

  row(key: string, label: string, better: Row['better']): void {
    if (!this.rows.some((r) => r.key === key)) this.rows.push({ key, label, better });
  }

  set(key: string, target: string, cell: Cell): void {
    let byTarget = this.cells.get(key);
    if (byTarget === undefined) this.cells.set(key, (byTarget = new Map()));
    byTarget.set(target, cell);
  }

  get(key: string, target: string): Cell | undefined {
    return this.cells.get(key)?.get(target);
  }

  latency(key: string, target: string, l: Latency | undefined, why = 'n/a'): void {
    if (l === undefined) return this.set(key, target, { text: why });
    this.set(key, target, { text: `${fmt(l.median)} / ${fmt(l.p99)}`, value: l.median });
  }

  rate(key: string, target: string, perSecond: number | undefined, why = 'n/a'): void {
    if (perSecond === undefined) return this.set(key, target, { text: why });
    this.set(key, target, { text: fmt(perSecond), value: perSecond });
  }

  /** Speed factor of `ours` against `qemu`: above 1 means ours is faster (or smaller). */
  factor(key: string, ours: string, qemu: string): number | undefined {
    const row = this.rows.find((r) => r.key === key);
    const mine = this.get(key, ours)?.value;
    let theirs = this.get(key, qemu)?.value;
    if (theirs === undefined && this.fallback.has(key)) {
      theirs = this.get(this.fallback.get(key)!, qemu)?.value;
    }
    if (row === undefined || row.better === 'none' || mine === undefined || theirs === undefined) {
      return undefined;
    }
    if (mine === 0 || theirs === 0) return undefined;
    return row.better === 'higher' ? mine / theirs : theirs / mine;
  }

  /** The table as Markdown: the QEMU column, then each backend with its factor. */
  markdown(pairs: { qemu: string; ours: string }[]): string {
    const header = ['figure'];
    for (const { qemu, ours } of pairs) header.push(qemu, ours, `${ours} vs QEMU`);
    const lines = [
      `| ${header.join(' | ')} |`,
      `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ];
    const ordered = [
      ...this.rows.filter((r) => r.key !== 'errors'),
      ...this.rows.filter((r) => r.key === 'errors'),
    ];
    for (const row of ordered) {
      const cells = [row.label];
      for (const { qemu, ours } of pairs) {
        const f = this.factor(row.key, ours, qemu);
        cells.push(
          this.get(row.key, qemu)?.text ?? '',
          this.get(row.key, ours)?.text ?? '',
          f === undefined ? '' : `${f >= 10 ? f.toFixed(0) : f.toFixed(2)}x`,
        );
      }
      lines.push(`| ${cells.join(' | ')} |`);
    }
    return lines.join('\n');
  }

  toJSON(): object {
    const out: Record<string, Record<string, Cell>> = {};
    for (const [key, byTarget] of this.cells) out[key] = Object.fromEntries(byTarget);
    return { rows: this.rows, cells: out };
  }
}

/** Three significant digits, thousands grouped. */
export function fmt(value: number): string {
  if (value >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(3);
}
