import { InteractiveGdb } from './interactive_gdb';
import { fmt, type Results } from './report';
import { summarise } from './stats';
import { launch, type LaunchOptions, type TargetKind } from './targets';

/**
 * Issue 15's figures, with real gdb as the client (on a terminal, as users
 * run it), against QEMU's gdbstub and vmm-gdbstub in the same run:
 *
 * - a breakpoint in up.elf's add_numbers with `if b % 3000 == 0` (b is the
 *   loop index, so true once in 3,000 hits): the time of one `continue`
 *   from one right hit to the next, each stop checked to be 3,000 further;
 * - `dprintf add_numbers,"dp %lu\n",b` with `set dprintf-style agent` (gdb
 *   falls back to its own printf where the stub cannot run commands): the
 *   time from `continue` to the 500th line, the lines checked consecutive.
 *
 * gdb evaluates both itself where the stub does not (QEMU): a stop, register
 * reads and a resume for every hit.
 */
const EVERY = 3000;
const LINES = 500;

export interface AgentBudget {
  continues: number;
  dprintfRuns: number;
}

export async function benchAgentExpressions(
  kind: TargetKind,
  kernel: string,
  results: Results,
  options: LaunchOptions,
  budget: AgentBudget,
): Promise<void> {
  const t = kind.name;
  results.row(
    'agent-cond',
    `real gdb: continue to the next right hit of a condition true once in ${fmt(EVERY)} hits (median ms)`,
    'lower',
  );
  results.row('agent-dprintf', `real gdb: ${LINES} dprintf lines (median ms)`, 'lower');
  const target = await launch(
    kind,
    { kernel, memoryMiB: 512, cpus: 1, cmdline: '', readyLine: 'up ok' },
    options,
  );
  const gdb = new InteractiveGdb(kernel, options.workDir);
  try {
    await gdb.waitFor(/\(gdb\) $/, 10000);
    await gdb.run(`target remote 127.0.0.1:${target.port}`);
    await gdb.run(`break add_numbers if b % ${EVERY} == 0`);
    const hit = /Breakpoint 1, add_numbers \(a=\d+, b=b@entry=(\d+)\)/;
    const next = async (): Promise<{ b: bigint; ms: number }> => {
      const from = gdb.text.length;
      const started = performance.now();
      gdb.send('continue');
      const ended = await gdb.waitFor(hit, 120000, from);
      const b = BigInt(hit.exec(gdb.text.slice(from))![1]!);
      await gdb.waitFor(/\(gdb\) $/, 10000, from);
      return { b, ms: ended - started };
    };
    let last = (await next()).b; // the first right hit: where the timed ones start
    const times: number[] = [];
    for (let i = 0; i < budget.continues; i++) {
      const { b, ms } = await next();
      if (b !== last + BigInt(EVERY)) throw new Error(`${t}: stopped at b=${b}, after b=${last}`);
      last = b;
      times.push(ms);
    }
    const cond = summarise(times).median;
    results.set('agent-cond', t, { text: fmt(cond), value: cond });

    await gdb.run('delete');
    await gdb.run('set dprintf-style agent');
    await gdb.run('dprintf add_numbers,"dp %lu\\n",b');
    const runs: number[] = [];
    let repeats = 0;
    let missed = 0;
    for (let i = 0; i < budget.dprintfRuns; i++) {
      const from = gdb.text.length;
      const started = performance.now();
      gdb.send('continue');
      // Whole lines only: gdb may have written part of one, and the Ctrl-C
      // typed once LINES are counted is echoed into whatever comes next.
      const ended = await gdb.waitFor(/^dp \d+\r?\n/m, 120000, from, LINES);
      await stopWithCtrlC(gdb, from);
      const values = [...gdb.text.slice(from).matchAll(/^dp (\d+)\r?$/gm)].map((m) =>
        BigInt(m[1]!),
      );
      for (let j = 1; j < LINES; j++) {
        const step = values[j]! - values[j - 1]!;
        if (step === 1n) continue;
        // With QEMU, gdb prints a line twice, or misses a hit, now and then: counted, not an error.
        if (!kind.qemu || step < 0n) {
          throw new Error(`${t}: dprintf line ${j} is ${values[j]} after ${values[j - 1]}`);
        }
        if (step === 0n) repeats++;
        else missed += Number(step - 1n);
      }
      runs.push(ended - started);
    }
    const lines = summarise(runs).median;
    const notes = [];
    if (repeats > 0) notes.push(`${repeats} printed twice`);
    if (missed > 0) notes.push(`${missed} hits missed`);
    const note = notes.length > 0 ? ` (${notes.join(', ')})` : '';
    results.set('agent-dprintf', t, { text: fmt(lines) + note, value: lines });
  } finally {
    await gdb.quit();
    await target.stop();
  }
}

/**
 * Ctrl-C until gdb prompts again: one typed while gdb is between a host-side
 * dprintf's stop and its resume can be taken for that stop and lost.
 */
async function stopWithCtrlC(gdb: InteractiveGdb, from: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    gdb.interrupt();
    try {
      await gdb.waitFor(/\(gdb\) $/, 1000, from);
      return;
    } catch (error) {
      if (attempt >= 60) throw error;
    }
  }
}

/** The targets: each >= 10x QEMU's time with the same gdb. */
export function agentTargets(results: Results, pairs: { qemu: string; ours: string }[]): string {
  const lines = ['Targets (issue 15), real gdb, factors >1 mean vmm-gdbstub is faster:'];
  for (const { qemu, ours } of pairs) {
    for (const [key, what] of [
      ['agent-cond', `a condition true once in ${fmt(EVERY)} hits`],
      ['agent-dprintf', `${LINES} dprintf lines`],
    ] as const) {
      const f = results.factor(key, ours, qemu);
      const verdict = f === undefined ? 'n/a ' : f >= 10 ? 'met ' : 'MISS';
      lines.push(
        `- ${verdict} ${ours}: ${what} ${f === undefined ? '?' : f.toFixed(2) + 'x'} QEMU (>= 10x)`,
      );
    }
  }
  return lines.join('\n');
}
