/**
 * The rows of the real-client section: what gdb or lldb does, timed by the
 * client itself, against each stub on the same guest. Adding a row is adding
 * an entry to REAL_ROWS; bench/real_clients.ts runs them in the order given,
 * each session's rows in one client process.
 */

/** One client process on one freshly booted guest. */
export type SessionName = 'gdb-up' | 'gdb-lines' | 'lldb-up' | 'gdb-smp4';

export interface SessionSpec {
  client: 'gdb' | 'lldb';
  kernel: 'up' | 'smp' | 'lines';
  cpus: number;
  /** smp.elf's `cpus=N` (empty for up.elf). */
  cmdline: string;
  readyLine: string;
}

export const SESSIONS: Record<SessionName, SessionSpec> = {
  'gdb-up': { client: 'gdb', kernel: 'up', cpus: 1, cmdline: '', readyLine: 'up ok' },
  'gdb-lines': { client: 'gdb', kernel: 'lines', cpus: 1, cmdline: '', readyLine: 'lines ok' },
  'lldb-up': { client: 'lldb', kernel: 'up', cpus: 1, cmdline: '', readyLine: 'up ok' },
  'gdb-smp4': { client: 'gdb', kernel: 'smp', cpus: 4, cmdline: 'cpus=4', readyLine: 'cpus up' },
};

/** What a row's commands may refer to. */
export interface RowContext {
  /** `127.0.0.1:PORT` of the stub under test. */
  address: string;
  /** A file in the run's scratch folder (dumps go there). */
  scratch(name: string): string;
  /** A 16 MiB file that holds every byte value, the escaped ones too, and no runs. */
  pattern: string;
  /** `lines.c:N`: the line of lines.elf's source (lines/lines.c) marked `bench: <text>`. */
  line(text: string): string;
}

export interface RealRow {
  key: string;
  session: SessionName;
  /** The session's first row, which connects: run whenever any row of its session runs. */
  connects?: true;
  /** The table's label; say what one sample is. Every figure is ms a sample. */
  label: string;
  /** Once, before the first sample. */
  setup?: (c: RowContext) => string[];
  /** Before each sample, not timed. */
  before?: (c: RowContext) => string[];
  /** One sample: these commands, timed together. */
  timed: (c: RowContext) => string[];
  /** After each sample, not timed. */
  after?: (c: RowContext) => string[];
  /** Once, after the last sample (also after a failure): leave the guest as setup found it. */
  teardown?: (c: RowContext) => string[];
  /** Samples: full run, --quick. */
  repeat: [number, number];
  /** gdb stops taking samples once this much time went by (lldb's script is fixed). */
  budgetMs?: number;
  /** The row is ended after this long (default 15 s): a breakpoint QEMU KVM never hits on PVM. */
  limitMs?: number;
  /** gdb: a Ctrl-C this long after the timed commands start; the sample is from it to the prompt. */
  interruptAfterMs?: number;
  /** Operations in one sample (steps, hits): the cell adds a rate. */
  operations?: number;
  /** Target of issue 18: the stub at least this many times faster than QEMU. */
  target?: number;
}

/**
 * lldb's samples time this many commands each: its marks are timestamped as
 * the bench reads them, and a block keeps a late read small against it.
 */
const LLDB_BLOCK = 20;

/** `stepi 2000` and friends: how many instructions one sample steps. */
const STEPS = 2000;

export const REAL_ROWS: RealRow[] = [
  // gdb on up.elf (1 vCPU, running its loop). The session's first row connects.
  {
    key: 'gdb-attach-first',
    connects: true,
    session: 'gdb-up',
    label: 'gdb: first `target remote` of a session, to the prompt',
    timed: (c) => [`target remote ${c.address}`],
    repeat: [1, 1],
  },
  {
    key: 'gdb-attach',
    session: 'gdb-up',
    label: 'gdb: `detach`, then `target remote` to the prompt (the attach timed)',
    before: () => ['detach'],
    timed: (c) => [`target remote ${c.address}`],
    repeat: [10, 3],
    budgetMs: 3000,
    target: 1,
  },
  {
    key: 'gdb-stepi',
    session: 'gdb-up',
    label: `gdb: \`stepi ${STEPS}\``,
    timed: () => [`stepi ${STEPS}`],
    repeat: [3, 1],
    budgetMs: 5000,
    operations: STEPS,
    target: 3,
  },
  {
    key: 'gdb-ignore',
    session: 'gdb-up',
    label: 'gdb: `continue` over `break add_numbers` with `ignore` 300 (301 hits)',
    setup: () => ['break add_numbers', 'continue'],
    before: () => ['ignore $bpnum 300'],
    timed: () => ['continue'],
    teardown: () => ['delete'],
    repeat: [5, 2],
    budgetMs: 4000,
    operations: 301,
    target: 3,
  },
  {
    key: 'gdb-watch',
    session: 'gdb-up',
    label: 'gdb: `watch counter`, one hit: `continue` to the prompt',
    setup: () => ['watch counter'],
    timed: () => ['continue'],
    teardown: () => ['delete'],
    repeat: [50, 20],
    budgetMs: 3000,
    target: 3,
  },
  {
    key: 'gdb-info-registers',
    session: 'gdb-up',
    label: 'gdb: `info registers`, register cache flushed before each',
    before: () => ['maintenance flush register-cache'],
    timed: () => ['info registers'],
    repeat: [50, 20],
    budgetMs: 2000,
  },
  {
    key: 'gdb-x-1000i',
    session: 'gdb-up',
    label: 'gdb: `x/1000i $pc`, memory cache flushed before each',
    before: () => ['maintenance flush dcache'],
    timed: () => ['x/1000i $pc'],
    repeat: [10, 3],
    budgetMs: 2000,
  },
  {
    key: 'gdb-restore',
    session: 'gdb-up',
    label: 'gdb: `restore` of a 16 MiB file (every byte value) into guest memory',
    timed: (c) => [`restore ${c.pattern} binary 0x1000000`],
    repeat: [3, 1],
    budgetMs: 5000,
  },
  {
    key: 'gdb-dump',
    session: 'gdb-up',
    label: 'gdb: `dump binary memory` of those 16 MiB',
    timed: (c) => [`dump binary memory ${c.scratch('dump.bin')} 0x1000000 0x2000000`],
    repeat: [3, 1],
    budgetMs: 5000,
  },
  // gdb on lines.elf (1 vCPU, calling bench_lines() forever).
  {
    key: 'gdb-lines-attach',
    session: 'gdb-lines',
    connects: true,
    label: 'gdb, lines.elf: first `target remote` of a session, to the prompt',
    timed: (c) => [`target remote ${c.address}`],
    repeat: [1, 1],
  },
  {
    key: 'gdb-next-call',
    session: 'gdb-lines',
    label: 'gdb: `next` over a line with a call',
    setup: (c) => [`break ${c.line('next over a call')}`],
    before: () => ['continue'],
    timed: () => ['next'],
    teardown: () => ['delete'],
    repeat: [10, 3],
    budgetMs: 3000,
  },
  {
    key: 'gdb-next-loop',
    session: 'gdb-lines',
    label: 'gdb: `next` over a line that loops 2,000 times (12,000 instructions)',
    setup: (c) => [`break ${c.line('next over a call')}`],
    before: () => ['continue', 'next'],
    timed: () => ['next'],
    teardown: () => ['delete'],
    repeat: [2, 1],
    budgetMs: 5000,
    limitMs: 40000,
    target: 20,
  },
  // gdb on smp.elf with 4 vCPUs.
  {
    key: 'gdb-smp-attach',
    connects: true,
    session: 'gdb-smp4',
    label: 'gdb, 4 vCPUs: first `target remote` of a session, to the prompt',
    timed: (c) => [`target remote ${c.address}`],
    repeat: [1, 1],
  },
  {
    key: 'gdb-smp-bt',
    session: 'gdb-smp4',
    label: 'gdb, 4 vCPUs: `thread apply all bt`, register and memory caches flushed before each',
    before: () => ['maintenance flush register-cache', 'maintenance flush dcache'],
    timed: () => ['thread apply all bt'],
    repeat: [10, 3],
    budgetMs: 2000,
  },
  {
    key: 'gdb-smp-ctrl-c',
    session: 'gdb-smp4',
    label: 'gdb, 4 vCPUs: Ctrl-C 100 ms into a `continue`, to the prompt',
    timed: () => ['continue'],
    interruptAfterMs: 100,
    repeat: [10, 3],
    budgetMs: 4000,
  },
  // lldb on up.elf.
  {
    key: 'lldb-attach',
    connects: true,
    session: 'lldb-up',
    label: 'lldb: `gdb-remote`, to the prompt',
    timed: (c) => [`gdb-remote ${c.address}`],
    repeat: [1, 1],
  },
  {
    key: 'lldb-step-inst',
    session: 'lldb-up',
    label: `lldb: ${LLDB_BLOCK} × \`thread step-inst\``,
    timed: () => Array<string>(LLDB_BLOCK).fill('thread step-inst'),
    repeat: [10, 4],
    operations: LLDB_BLOCK,
    target: 3,
  },
  {
    key: 'lldb-break',
    session: 'lldb-up',
    label: `lldb: \`breakpoint set -n add_numbers\`, ${LLDB_BLOCK} hits: \`continue\` to the prompt each`,
    setup: () => ['breakpoint set -n add_numbers'],
    timed: () => Array<string>(LLDB_BLOCK).fill('continue'),
    teardown: () => ['breakpoint delete --force'],
    repeat: [5, 2],
    operations: LLDB_BLOCK,
  },
  {
    key: 'lldb-memory-write',
    session: 'lldb-up',
    label: 'lldb: `memory write` of a 16 MiB file (every byte value)',
    timed: (c) => [`memory write --infile ${c.pattern} 0x1000000`],
    repeat: [5, 2],
  },
  {
    key: 'lldb-memory-read',
    session: 'lldb-up',
    label: 'lldb: `memory read` of those 16 MiB into a file, after a `thread step-inst`',
    // lldb keeps what it read until the process runs again: a step empties its cache.
    before: () => ['thread step-inst'],
    timed: (c) => [
      `memory read --force --binary --outfile ${c.scratch('lldb.bin')} 0x1000000 0x2000000`,
    ],
    repeat: [5, 2],
  },
];
