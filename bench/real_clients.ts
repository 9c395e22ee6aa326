import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REAL_ROWS, SESSIONS, type RealRow, type RowContext, type SessionName } from './real_rows';
import { testPattern } from './measure';
import { fmt, Results } from './report';
import { median } from './stats';
import { launch, type LaunchOptions, type TargetKind } from './targets';

/**
 * The real-client section: real gdb and lldb drive each stub on the same
 * guest, in the same run, alternating targets round by round. gdb times its
 * rows itself (bench/gdb_runner.py, its Python API); lldb has no Python here
 * (Debian's lldb 14 without python3-lldb), so the bench timestamps the echo of
 * comment lines lldb prints before and after each sample.
 */

/** What one session reported for one row. */
export interface RowOutcome {
  samples: number[];
  error?: string;
  /** CPU time of the client process and of the target process over the timed commands. */
  clientCpuMs?: number;
  targetCpuMs?: number;
  /** The client ended (or was ended) before the row began: worth another session. */
  notRun?: boolean;
}

/** A row with its commands written out for one target. */
interface ResolvedRow {
  key: string;
  setup: string[];
  before: string[];
  timed: string[];
  after: string[];
  teardown: string[];
  repeat: number;
  budgetMs: number;
  limitMs: number;
  interruptAfterMs?: number;
}

/** How long one row may take (unless it says) before the bench ends it. */
const ROW_LIMIT_MS = 15000;

/** Numbers of the lines of lines/lines.c marked `bench: <text>`. */
export function benchLines(source: string): Map<string, number> {
  const lines = new Map<string, number>();
  source.split('\n').forEach((text, i) => {
    const match = /\/\* bench: (.*?) \*\//.exec(text);
    if (match) lines.set(match[1]!, i + 1);
  });
  return lines;
}

/** What gdb_runner.py reports, one `@@bench {json}` line each. */
export interface RunnerEvent {
  kind: 'start' | 'done' | 'error' | 'end';
  key?: string;
  samples?: number[];
  message?: string;
  clientCpuMs?: number;
  targetCpuMs?: number;
}

/** The event on one line of gdb's output; undefined for gdb's own lines. */
export function runnerEvent(line: string): RunnerEvent | undefined {
  if (!line.startsWith('@@bench ')) return undefined;
  return JSON.parse(line.slice('@@bench '.length)) as RunnerEvent;
}

/** The mark on one line of lldb's output (its echo of `# @@bench <what> <key>`). */
export function lldbMark(line: string): { what: string; key: string } | undefined {
  const match = /^\(lldb\) # @@bench (\w+) (\S+)$/.exec(line);
  return match ? { what: match[1]!, key: match[2]! } : undefined;
}

function resolve(row: RealRow, c: RowContext, quick: boolean): ResolvedRow {
  return {
    key: row.key,
    setup: row.setup?.(c) ?? [],
    before: row.before?.(c) ?? [],
    timed: row.timed(c),
    after: row.after?.(c) ?? [],
    teardown: row.teardown?.(c) ?? [],
    repeat: quick ? row.repeat[1] : row.repeat[0],
    budgetMs: row.budgetMs ?? Number.POSITIVE_INFINITY,
    limitMs: row.limitMs ?? ROW_LIMIT_MS,
    interruptAfterMs: row.interruptAfterMs,
  };
}

function spawnClient(taskset: string, command: string, args: string[], env?: NodeJS.ProcessEnv) {
  return spawn('taskset', ['-c', taskset, command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env ?? process.env,
  });
}

/** Runs one gdb session (gdb_runner.py) over `rows`; every row gets an outcome. */
export function runGdb(
  root: string,
  kernel: string,
  rows: ResolvedRow[],
  workDir: string,
  taskset: string,
  targetPid: number,
): Promise<Map<string, RowOutcome>> {
  const specPath = path.join(workDir, `gdb-spec-${process.hrtime.bigint()}.json`);
  fs.writeFileSync(
    specPath,
    JSON.stringify({ targetPid, rows: rows.map((r) => ({ ...r, budgetMs: finite(r.budgetMs) })) }),
  );
  const gdb = spawnClient(
    taskset,
    'gdb',
    [
      '-nx',
      '-batch',
      '-ex',
      'set pagination off',
      '-ex',
      'set confirm off',
      '-ex',
      'set width 0',
      '-x',
      path.join(root, 'bench', 'gdb_runner.py'),
      kernel,
    ],
    { ...process.env, VMM_BENCH_SPEC: specPath },
  );
  const outcomes = new Map<string, RowOutcome>();
  let pending = '';
  let tail = '';
  let timer: NodeJS.Timeout | undefined;
  const limits = new Map(rows.map((r) => [r.key, r.limitMs]));
  // A row past its limit (a breakpoint that never hits) gets a Ctrl-C, then gdb is ended.
  const rescue = (key: string) => {
    outcomes.set(key, { samples: [], error: `did not finish in ${limits.get(key)! / 1000} s` });
    gdb.kill('SIGINT');
    timer = setTimeout(() => gdb.kill('SIGKILL'), 3000);
  };
  gdb.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      const event = runnerEvent(line);
      if (event === undefined) {
        tail = (tail + line + '\n').slice(-2000);
        continue;
      }
      clearTimeout(timer);
      if (event.kind === 'start') {
        timer = setTimeout(() => rescue(event.key!), limits.get(event.key!) ?? ROW_LIMIT_MS);
      } else if (event.kind === 'done' || event.kind === 'error') {
        const old = outcomes.get(event.key!);
        if (old?.error === undefined || event.kind === 'error') {
          outcomes.set(event.key!, {
            samples: event.samples ?? old?.samples ?? [],
            error: old?.error ?? (event.kind === 'error' ? oneLine(event.message) : undefined),
            clientCpuMs: event.clientCpuMs,
            targetCpuMs: event.targetCpuMs,
          });
        }
      }
    }
  });
  let stderr = '';
  gdb.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  return new Promise((resolveAll) => {
    gdb.on('close', () => {
      clearTimeout(timer);
      fs.rmSync(specPath, { force: true });
      const why = oneLine(stderr.trim().split('\n').pop() ?? '') || oneLine(tail);
      for (const row of rows) {
        if (!outcomes.has(row.key))
          outcomes.set(row.key, { samples: [], error: `gdb ended first: ${why}`, notRun: true });
      }
      resolveAll(outcomes);
    });
  });
}

/**
 * Runs one lldb session over `rows`: one command file, with a comment line
 * before and after each sample; lldb echoes each line as it starts on it,
 * and this process timestamps the echo as it reads it. A late read (this
 * process descheduled) moves a mark, so lldb's rows time several commands a
 * sample and take the median.
 */
export function runLldb(
  kernel: string,
  rows: ResolvedRow[],
  workDir: string,
  taskset: string,
  targetPid: number,
): Promise<Map<string, RowOutcome>> {
  const script: string[] = [
    // lldb 14 without its Python support waits 0 s for the handshake unless told.
    'settings set plugin.process.gdb-remote.packet-timeout 10',
  ];
  for (const row of rows) {
    script.push(`# @@bench start ${row.key}`, ...row.setup);
    for (let i = 0; i < row.repeat; i++) {
      script.push(...row.before, `# @@bench t0 ${row.key}`, ...row.timed);
      script.push(`# @@bench t1 ${row.key}`, ...row.after);
    }
    script.push(...row.teardown, `# @@bench end ${row.key}`);
  }
  script.push('detach');
  const scriptPath = path.join(workDir, `lldb-${process.hrtime.bigint()}.txt`);
  fs.writeFileSync(scriptPath, script.join('\n') + '\n');
  const lldb = spawnClient(taskset, 'lldb', ['--no-lldbinit', '-b', '-s', scriptPath, kernel]);
  const outcomes = new Map<string, RowOutcome>();
  let current: string | undefined;
  let t0 = 0;
  let watchdog: NodeJS.Timeout | undefined;
  let cpu0 = { client: 0, target: 0 };
  const cpuNow = () => ({ client: processCpuMs(lldb.pid!), target: processCpuMs(targetPid) });
  let pending = '';
  lldb.stdout.on('data', (chunk: Buffer) => {
    const now = performance.now();
    pending += chunk.toString('latin1');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      const mark = lldbMark(line);
      if (mark === undefined) continue;
      const { what, key } = mark;
      if (what === 'start') {
        current = key;
        outcomes.set(key, { samples: [], clientCpuMs: 0, targetCpuMs: 0 });
        const limitMs = rows.find((r) => r.key === key)?.limitMs ?? ROW_LIMIT_MS;
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          outcomes.get(key)!.error = `did not finish in ${limitMs / 1000} s`;
          lldb.kill('SIGKILL');
        }, limitMs);
      } else if (what === 't0') {
        t0 = now;
        cpu0 = cpuNow();
      } else if (what === 't1') {
        const outcome = outcomes.get(key)!;
        const cpu = cpuNow();
        // Both marks in one read: this process read late, the sample is lost.
        if (now === t0) continue;
        outcome.samples.push(now - t0);
        outcome.clientCpuMs! += cpu.client - cpu0.client;
        outcome.targetCpuMs! += cpu.target - cpu0.target;
      } else if (what === 'end') {
        current = undefined;
        clearTimeout(watchdog);
      }
    }
  });
  let stderr = '';
  lldb.stderr.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    stderr = (stderr + text).slice(-2000);
    const error = /^error: (.*)$/m.exec(text);
    const outcome = current === undefined ? undefined : outcomes.get(current);
    if (error && outcome && outcome.error === undefined) outcome.error = oneLine(error[1]);
  });
  return new Promise((resolveAll) => {
    lldb.on('close', () => {
      clearTimeout(watchdog);
      fs.rmSync(scriptPath, { force: true });
      for (const row of rows) {
        const outcome = outcomes.get(row.key);
        if (outcome === undefined || (row.key === current && outcome.error === undefined)) {
          const why = oneLine(stderr.trim().split('\n').pop() ?? '');
          outcomes.set(row.key, {
            samples: outcome?.samples ?? [],
            error: `lldb ended first${why ? `: ${why}` : ''}`,
            notRun: outcome === undefined,
          });
        }
      }
      resolveAll(outcomes);
    });
  });
}

/** The 16 MiB pattern of the protocol rows (testPattern), as a file for restore and memory write. */
function patternFile(workDir: string): string {
  const file = path.join(workDir, 'pattern.bin');
  if (!fs.existsSync(file)) fs.writeFileSync(file, testPattern(16 * 1024 * 1024));
  return file;
}

/** CPU time of every live thread of a process (a stub's vCPU threads too), in ms; 0 once it is gone. */
export function processCpuMs(pid: number): number {
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  let ns = 0;
  for (const tid of tids) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
    } catch {
      // the thread ended
    }
  }
  return ns / 1e6;
}

function oneLine(text: string | undefined): string {
  return (text ?? '').replace(/\s+/g, ' ').trim().slice(0, 120);
}

function finite(ms: number): number {
  return Number.isFinite(ms) ? ms : 1e12;
}

export interface Placement {
  /** Column suffix: '' (free) or ', CPU 0'. */
  suffix: string;
  /** taskset -c LIST for every process of the section. */
  cpus: string;
}

export interface RealClientOptions {
  root: string;
  kernels: { up: string; smp: string; lines: string };
  /** The stub and QEMU columns, in pairs on the same accelerator. */
  kinds: TargetKind[];
  launchOptions: LaunchOptions;
  placements: Placement[];
  rounds: number;
  quick: boolean;
  clients: { gdb: boolean; lldb: boolean };
  /** Only the rows whose key matches (and the rows that connect their sessions). */
  only?: RegExp;
  say(line: string): void;
}

/** Round medians of every row, per column, and the CPU time its samples took. */
interface StoredCell {
  medians: number[];
  errors: string[];
  wallMs: number;
  clientCpuMs: number;
  targetCpuMs: number;
}
type Store = Map<string, Map<string, StoredCell>>;

/** The section's table, and where the time of each figure went. */
export interface RealClientResults {
  results: Results;
  /** Per row and column: client and target CPU time as shares of the timed wall time. */
  cpu: Map<string, Map<string, { client: number; target: number }>>;
  labels: Map<string, string>;
}

/** Runs every row on every target and placement, `rounds` times; returns the table. */
export async function realClientSection(o: RealClientOptions): Promise<RealClientResults> {
  const lines = benchLines(
    fs.readFileSync(path.join(o.root, 'test', 'fixtures', 'guest', 'lines', 'lines.c'), 'utf8'),
  );
  const chosen = REAL_ROWS.filter(
    (r) => o.clients[SESSIONS[r.session].client] && (o.only === undefined || o.only.test(r.key)),
  );
  const sessions = (Object.keys(SESSIONS) as SessionName[]).filter((s) =>
    chosen.some((r) => r.session === s && r.connects === undefined),
  );
  const rows = REAL_ROWS.filter(
    (r) => sessions.includes(r.session) && (r.connects === true || chosen.includes(r)),
  );
  const store: Store = new Map();
  // Rows that ran out of time on a column (QEMU KVM's breakpoints on PVM) are not tried again.
  const hopeless = new Set<string>();
  const record = (key: string, column: string, outcome: RowOutcome) => {
    let byColumn = store.get(key);
    if (byColumn === undefined) store.set(key, (byColumn = new Map()));
    let cell = byColumn.get(column);
    if (cell === undefined) {
      cell = { medians: [], errors: [], wallMs: 0, clientCpuMs: 0, targetCpuMs: 0 };
      byColumn.set(column, cell);
    }
    if (outcome.error !== undefined) cell.errors.push(outcome.error);
    else if (outcome.samples.length > 0) {
      cell.medians.push(median(outcome.samples));
      if (outcome.clientCpuMs !== undefined && outcome.targetCpuMs !== undefined) {
        cell.wallMs += outcome.samples.reduce((a, b) => a + b, 0);
        cell.clientCpuMs += outcome.clientCpuMs;
        cell.targetCpuMs += outcome.targetCpuMs;
      }
    }
  };
  for (const placement of o.placements) {
    for (let round = 0; round < o.rounds; round++) {
      // Alternate the order, so that neither target always runs first.
      const kinds = round % 2 === 0 ? o.kinds : [...o.kinds].reverse();
      for (const kind of kinds) {
        const column = kind.name + placement.suffix;
        for (const session of sessions) {
          o.say(`real clients: ${column}, round ${round + 1}/${o.rounds}, ${session}`);
          const runnable = rows.filter((r) => !hopeless.has(`${column}\0${r.key}`));
          const outcomes = await runSession(o, kind, session, runnable, placement, lines);
          for (const [key, outcome] of outcomes) {
            record(key, column, outcome);
            if (outcome.error?.startsWith('did not finish')) hopeless.add(`${column}\0${key}`);
          }
        }
      }
    }
  }
  const r = new Results();
  const cpu: RealClientResults['cpu'] = new Map();
  const labels = new Map<string, string>();
  for (const row of rows) {
    labels.set(row.key, row.label);
    const shares = new Map<string, { client: number; target: number }>();
    cpu.set(row.key, shares);
    for (const [column, cell] of store.get(row.key) ?? []) {
      if (cell.wallMs > 0) {
        shares.set(column, {
          client: cell.clientCpuMs / cell.wallMs,
          target: cell.targetCpuMs / cell.wallMs,
        });
      }
    }
    r.row(row.key, `${row.label} (ms)`, 'lower');
    for (const [column, cell] of store.get(row.key) ?? []) {
      if (cell.medians.length === 0) {
        r.set(row.key, column, { text: cell.errors[0] ?? 'no samples' });
        continue;
      }
      const value = median(cell.medians);
      let text = fmt(value);
      if (row.operations !== undefined) text += ` = ${fmt((row.operations * 1000) / value)}/s`;
      if (cell.medians.length > 1) {
        text += ` [${fmt(Math.min(...cell.medians))}-${fmt(Math.max(...cell.medians))}]`;
      }
      if (cell.errors.length > 0) text += ` (${cell.errors.length} failed: ${cell.errors[0]})`;
      r.set(row.key, column, { text, value });
    }
  }
  return { results: r, cpu, labels };
}

async function runSession(
  o: RealClientOptions,
  kind: TargetKind,
  session: SessionName,
  chosen: RealRow[],
  placement: Placement,
  lines: Map<string, number>,
): Promise<Map<string, RowOutcome>> {
  const spec = SESSIONS[session];
  const kernel = o.kernels[spec.kernel];
  const rows = chosen.filter((r) => r.session === session);
  const failAll = (error: string) =>
    new Map(rows.map((r) => [r.key, { samples: [], error } as RowOutcome]));
  let target;
  try {
    target = await launch(
      kind,
      {
        kernel,
        memoryMiB: 512,
        cpus: spec.cpus,
        cmdline: spec.cmdline,
        readyLine: spec.readyLine,
      },
      { ...o.launchOptions, taskset: placement.cpus },
    );
  } catch (error) {
    return failAll(error instanceof Error ? oneLine(error.message) : String(error));
  }
  try {
    if (!target.ready) return failAll(`no '${spec.readyLine}' in ${kind.bootTimeout} s`);
    const context: RowContext = {
      address: `127.0.0.1:${target.port}`,
      scratch: (name) => path.join(o.launchOptions.workDir, name),
      pattern: patternFile(o.launchOptions.workDir),
      line: (text) => {
        const n = lines.get(text);
        if (n === undefined) throw new Error(`lines/lines.c has no line marked 'bench: ${text}'`);
        return `lines.c:${n}`;
      },
    };
    const resolved = rows.map((r) => resolve(r, context, o.quick));
    const connect = resolved[0]!;
    const outcomes = new Map<string, RowOutcome>();
    let pending = resolved;
    // A client that ended early (a row past its limit, lldb's handshake with
    // QEMU) leaves its later rows to a new session on the same guest.
    for (let attempt = 1; attempt <= 3 && pending.length > 0; attempt++) {
      const got =
        spec.client === 'gdb'
          ? await runGdb(
              o.root,
              kernel,
              pending,
              o.launchOptions.workDir,
              placement.cpus,
              target.pid,
            )
          : await runLldb(kernel, pending, o.launchOptions.workDir, placement.cpus, target.pid);
      for (const [key, outcome] of got) {
        const old = outcomes.get(key);
        if (old === undefined || old.notRun === true || (key === connect.key && old.error)) {
          outcomes.set(key, outcome);
        }
      }
      const left = resolved.filter((r) => r !== connect && outcomes.get(r.key)?.notRun === true);
      if (left.length > 0) {
        const why = got.get(connect.key)?.error ?? 'an earlier row did not finish';
        o.say(`real clients: ${kind.name}: ${left.length} row(s) again in a new session (${why})`);
      }
      pending = left.length > 0 ? [connect, ...left] : [];
    }
    return outcomes;
  } finally {
    await target.stop();
  }
}

/**
 * Where the time of each figure went: CPU time of the client (gdb or lldb)
 * and of the target's process (the stub or QEMU, their vCPU threads
 * included) over the timed commands, as percentages of their wall time.
 * A client near 100 % is what limits a figure; what neither uses is waiting
 * (wake-ups, the loopback, the scheduler).
 */
export function cpuMarkdown(section: RealClientResults, columns: string[]): string {
  const lines = [
    `| figure | ${columns.join(' | ')} |`,
    `|---|${columns.map(() => '---:').join('|')}|`,
  ];
  const pct = (share: number) => `${Math.round(share * 100)}`;
  for (const [key, shares] of section.cpu) {
    const cells = columns.map((column) => {
      const share = shares.get(column);
      return share === undefined ? '' : `${pct(share.client)} / ${pct(share.target)}`;
    });
    lines.push(`| ${section.labels.get(key)} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Issue 18's targets for the rows that have one, per pair and placement. */
export function realClientTargets(r: Results, pairs: { qemu: string; ours: string }[]): string {
  const lines = ['Targets (issue 18), real clients, factors >1 mean vmm-gdbstub is faster:'];
  for (const { qemu, ours } of pairs) {
    for (const row of REAL_ROWS) {
      if (row.target === undefined || !r.rows.some((x) => x.key === row.key)) continue;
      const f = r.factor(row.key, ours, qemu);
      const verdict = f === undefined ? 'n/a ' : f >= row.target ? 'met ' : 'MISS';
      const shown = f === undefined ? '?' : `${f.toFixed(2)}x`;
      lines.push(`- ${verdict} ${ours}: ${row.label}: ${shown} QEMU (>= ${row.target}x)`);
    }
  }
  return lines.join('\n');
}
