import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { agentTargets, benchAgentExpressions } from './agent_expressions';
import { bulkFloor, type BulkFloor } from './bulk_floor';
import { buildCReader, cRead } from './c_reader';
import { buildPingPong, cLoopback, idleLoopback, nodeLoopback, nodeToCLoopback } from './loopback';
import {
  attach,
  attachSamples,
  breakpointCycles,
  interruptLatency,
  readMemory,
  registerRoundRobin,
  roundTrip,
  steps,
  testPattern,
  threadList,
  writeMemory,
  type Attached,
} from './measure';
import { linuxBootSection } from './linux_boot';
import { hotSpots } from './profile';
import {
  cpuMarkdown,
  realClientSection,
  realClientTargets,
  type Placement,
  type RealClientResults,
} from './real_clients';
import { QUICK_SOAK_COUNTS, SOAK_COUNTS, soakTable, soakUp, type SoakResult } from './soak';
import { fmt, Results } from './report';
import { summarise, type Budget } from './stats';
import { launch, makeWorkDir, residentBytes, type LaunchOptions, type TargetKind } from './targets';

const MiB = 1024 * 1024;
/** Where the 16 MiB pattern goes: guest-physical 16 MiB, identity-mapped, untouched by up.elf. */
const PATTERN_ADDRESS = 16 * MiB;
const PATTERN_BYTES = 16 * MiB;
const PAUSE_CPUS = [1, 4, 16, 64];
/** Pause-all again with the stub's vCPU threads at idle priority (not QEMU's: it has no such option). */
const IDLE_PAUSE_CPUS = [16, 64];
/** How long the guest runs before each Ctrl-C (and the idle gap of the idle loopback round trip). */
const CTRL_C_RUN_MS = 100;
/** vmm-gdbstub's PacketSize (lib/gdb_stub.ts DEFAULT_PACKET_SIZE): the transport floor's reply size. */
const OUR_PACKET_SIZE = 0x80000;

const KINDS: Record<string, TargetKind> = {
  'qemu-tcg': { name: 'QEMU TCG', accel: 'tcg', qemu: true, maxCpus: 64, bootTimeout: 30 },
  emu: { name: 'emu', accel: 'tcg', qemu: false, maxCpus: 16, bootTimeout: 30 },
  'qemu-kvm': { name: 'QEMU KVM', accel: 'kvm', qemu: true, maxCpus: 64, bootTimeout: 60 },
  kvm: { name: 'kvm', accel: 'kvm', qemu: false, maxCpus: 64, bootTimeout: 60 },
};

const USAGE = `usage: npm run bench -- [options]
  --targets LIST    comma-separated: qemu-tcg,emu,qemu-kvm,kvm (default: those that run here)
  --quick           smaller sample budgets (a smoke run); the soak runs a fifth as long;
                    one round of the real-client section; 3 Linux boots, not 10
  --linux-boot-only only the Linux boot section: Debian's kernel to /init on emu and
                    QEMU TCG with 1 and 2 vCPUs, 10 boots each
  --real-clients-only
                    only the real-client section: real gdb and lldb drive each stub
  --no-real-clients skip the real-client section
  --rounds N        rounds of the real-client section, targets alternating (default 3)
  --rows REGEX      only the real-client rows whose key matches (bench/real_rows.ts)
  --real-pinned N   the real-client section again with all its processes on CPU N,
                    as extra columns (the headline leaves placement to the scheduler)
  --soak-only       only the long-session soak: the stub's RSS over 10^5 breakpoint
                    hits, 10^5 single steps and 10^4 connect/detach sessions
                    (vmm-gdbstub targets only)
  --agent-only      only the agent-expression figures (real gdb: conditional
                    breakpoints and dprintf)
  --stub-root DIR   folder with dist/cli.js and addons/ of the stub to measure (default: this checkout)
  --qemu PATH       qemu-system-x86_64 to compare with (default: from PATH)
  --cpu N|free      run the client, every stub and the floor on CPU N (default 0),
                    or wherever the scheduler puts them
  --cpu-prof DIR    run the stub under node --cpu-prof; print its hot spots
  --json FILE       also write every figure as JSON
`;

interface Symbols {
  addNumbers: bigint;
  counter: bigint;
  pattern: bigint;
  apArrived: bigint;
}

function symbolsOf(kernel: string): Map<string, bigint> {
  const table = new Map<string, bigint>();
  for (const line of execFileSync('nm', [kernel], { encoding: 'utf8' }).split('\n')) {
    const match = /^([0-9a-f]+) \w (\S+)$/.exec(line);
    if (match) table.set(match[2]!, BigInt('0x' + match[1]!));
  }
  return table;
}

function need(table: Map<string, bigint>, name: string): bigint {
  const value = table.get(name);
  if (value === undefined) throw new Error(`the kernel has no symbol ${name}`);
  return value;
}

function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function kvmOpens(): boolean {
  try {
    fs.closeSync(fs.openSync('/dev/kvm', 'r+'));
    return true;
  } catch {
    return false;
  }
}

function say(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

interface Context {
  results: Results;
  launchOptions: LaunchOptions;
  kernels: { up: string; smp: string; lines: string };
  symbols: Symbols;
  rt: Budget;
  loop: Budget;
  interrupts: number;
  /** The C m/x reader (bench/c_reader.ts); undefined without gcc. */
  cReader: string | undefined;
  /** The C echo server of the loopback floor; undefined without gcc. */
  pingPong: string | undefined;
}

/** Every figure that needs up.elf: round trips, memory, steps, breakpoints, Ctrl-C. */
async function benchUp(kind: TargetKind, ctx: Context): Promise<void> {
  const { results: r, symbols } = ctx;
  const t = kind.name;
  const target = await launch(
    kind,
    { kernel: ctx.kernels.up, memoryMiB: 512, cpus: 1, cmdline: '', readyLine: 'up ok' },
    ctx.launchOptions,
  );
  try {
    r.row('boot', 'boot to `up ok`, s', 'none');
    r.set('boot', t, { text: target.ready ? target.bootSeconds.toFixed(2) : 'timed out' });
    if (!target.ready) throw new Error(`up.elf did not print its line in ${kind.bootTimeout} s`);
    r.row('attach', 'attach: connect, qSupported .. first g (median / p99 us)', 'lower');
    r.latency('attach', t, summarise(await attachSamples(target.port, 5)));
    const session = await attach(target.port);
    const { client } = session;
    // The kernel's own pattern, as a check that m reads what the guest wrote.
    // Two halves: QEMU's m takes at most 2 KiB.
    let hex = await client.text(`m${symbols.pattern.toString(16)},800`);
    hex += await client.text(`m${(symbols.pattern + 0x800n).toString(16)},800`);
    const own = Buffer.from(hex, 'hex');
    if (!own.equals(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7 + 3) & 0xff)))) {
      throw new Error('up.elf `pattern` does not read back as fill_pattern wrote it');
    }
    const pattern = testPattern(PATTERN_BYTES);
    const written = await writeMemory(client, session.packetSize, PATTERN_ADDRESS, pattern);
    r.row('write', '16 MiB pattern written with (MiB/s)', 'higher');
    r.set('write', t, {
      text: `${written.packet} ${fmt(written.bytesPerSecond / MiB)}`,
      value: written.bytesPerSecond,
    });
    r.row('packetsize', 'PacketSize (bytes)', 'none');
    r.set('packetsize', t, { text: String(session.packetSize) });

    for (const mode of ['ack', 'no-ack'] as const) {
      if (mode === 'no-ack' && !(await client.startNoAck())) {
        say(`${t}: no QStartNoAckMode; its ack-mode figures stand in`);
        break;
      }
      await benchMode(kind, ctx, session, pattern, mode);
    }
    r.row('rss512', 'stub RSS, 512 MiB guest, after 16 MiB read (MiB)', 'lower');
    const rss = residentBytes(target.pid);
    r.rate('rss512', t, rss === undefined ? undefined : rss / MiB);
    await client.request('D').catch(() => undefined);
    await client.close();
    for (const packet of ['m', 'x'] as const) {
      const key = `cread-${packet}`;
      r.row(key, `${packet} read of 16 MiB, C client, no-ack where offered (MiB/s)`, 'higher');
      if (ctx.cReader === undefined) {
        r.set(key, t, { text: 'no gcc' });
        continue;
      }
      const read = cRead(ctx.cReader, target.port, packet, PATTERN_ADDRESS, pattern);
      if (read !== undefined && !read.verified)
        throw new Error(`${t}: C ${packet} read wrong bytes`);
      r.rate(key, t, read === undefined ? undefined : read.bytesPerSecond / MiB, `no ${packet}`);
    }
  } finally {
    await target.stop();
  }
}

async function benchMode(
  kind: TargetKind,
  ctx: Context,
  session: Attached,
  pattern: Buffer,
  mode: 'ack' | 'no-ack',
): Promise<void> {
  const { results: r, symbols } = ctx;
  const t = kind.name;
  const { client, thread } = session;
  const row = (key: string, label: string, better: 'lower' | 'higher' | 'none') => {
    const full = `${key}.${mode}`;
    r.row(full, `${label}, ${mode}`, better);
    if (mode === 'no-ack') r.fallback.set(full, `${key}.ack`);
    return full;
  };
  for (const [packet, name] of [
    ['qC', 'qC'],
    ['?', '?'],
    ['g', 'g'],
    ['p10', 'p rip'],
  ] as const) {
    const key = row(`rt-${name}`, `${name} round trip (median / p99 us)`, 'lower');
    r.latency(key, t, await roundTrip(client, packet, ctx.rt));
    if (name === 'qC' && mode === 'no-ack') {
      // The floor again, next to the qC it judges: it drifts over a run.
      r.row(
        'floor-qc',
        'loopback floor again, right after the no-ack qC (median / p99 us)',
        'none',
      );
      r.latency('floor-qc', t, await nodeToCLoopback(ctx.pingPong, ctx.rt), 'no gcc');
      // And the least any Node server pays: a trivial echo server, same client.
      r.row(
        'floor-node-qc',
        'Node echo server again, right after the no-ack qC (median / p99 us)',
        'none',
      );
      r.latency('floor-node-qc', t, await nodeLoopback(ctx.rt));
    }
  }
  for (const packet of ['m', 'x'] as const) {
    const key = row(`read-${packet}`, `${packet} read of 16 MiB (MiB/s)`, 'higher');
    const read = await readMemory(client, session.packetSize, packet, PATTERN_ADDRESS, pattern);
    if (read !== undefined && !read.verified) throw new Error(`${t}: ${packet} read wrong bytes`);
    r.rate(key, t, read === undefined ? undefined : read.bytesPerSecond / MiB, `no ${packet}`);
    const cpuKey = row(
      `client-cpu-${packet}`,
      `${packet} read of 16 MiB: the TypeScript client's own CPU time (ms)`,
      'none',
    );
    r.rate(cpuKey, t, read?.clientCpuMs, `no ${packet}`);
  }
  const step = await steps(client, thread, ctx.loop);
  r.rate(row('steps', 'single steps (vCont;s) per second', 'higher'), t, 1e6 / step.median);
  for (const style of ['gdb', 'plain'] as const) {
    const label =
      style === 'gdb'
        ? 'breakpoint cycles per second (z0, step, Z0, continue)'
        : 'breakpoint hits per second (continue over a planted one)';
    const key = row(`bp-${style}`, label, 'higher');
    const cycle = await breakpointCycles(
      client,
      thread,
      symbols.addNumbers,
      symbols.counter,
      style,
      ctx.loop,
    );
    if (cycle === undefined) {
      r.set(key, t, { text: 'never hit in 10 s' });
    } else if (cycle.progress < 0.5) {
      r.set(key, t, { text: `no progress (${cycle.progress.toFixed(2)} loop passes a hit)` });
    } else {
      r.rate(key, t, 1e6 / cycle.latency.median);
    }
  }
  const key = row('ctrlc', 'Ctrl-C to stop reply, guest running (median / p99 us)', 'lower');
  r.latency(key, t, await interruptLatency(client, CTRL_C_RUN_MS, ctx.interrupts));
}

/** smp.elf with `cpus` vCPUs: pause-all latency; at 4 vCPUs also thread list and Hg+g. */
async function benchSmp(
  kind: TargetKind,
  ctx: Context,
  cpus: number,
  idleVcpus = false,
): Promise<void> {
  const { results: r } = ctx;
  const t = kind.name;
  const pauseKey = idleVcpus ? `pause-idle-${cpus}` : `pause-${cpus}`;
  r.row(
    pauseKey,
    `pause all ${cpus} vCPU${cpus > 1 ? 's' : ''}${idleVcpus ? ', --vcpu-priority idle' : ''}: Ctrl-C to stop reply (median / p99 us)`,
    'lower',
  );
  if (idleVcpus && kind.qemu) {
    r.set(pauseKey, t, { text: 'n/a' });
    return;
  }
  if (cpus > kind.maxCpus) {
    r.set(pauseKey, t, { text: `n/a (max ${kind.maxCpus} vCPUs)` });
    return;
  }
  const target = await launch(
    kind,
    {
      kernel: ctx.kernels.smp,
      memoryMiB: 512,
      cpus,
      cmdline: `cpus=${cpus}`,
      readyLine: 'cpus up',
      idleVcpus,
    },
    ctx.launchOptions,
  );
  try {
    const session = await attach(target.port);
    const { client } = session;
    await client.startNoAck();
    const arrived = Buffer.from(
      await client.text(`m${ctx.symbols.apArrived.toString(16)},${(4 * 64).toString(16)}`),
      'hex',
    );
    let started = 1;
    for (let i = 0; i < 64; i++) if (arrived.readUInt32LE(i * 4) === 1) started++;
    started = Math.min(started, cpus);
    const latency = await interruptLatency(client, 30, ctx.interrupts);
    r.latency(pauseKey, t, latency);
    if (started < cpus) {
      const cell = r.get(pauseKey, t)!;
      cell.text += ` (${started} started)`;
    }
    if (cpus === 4 && !idleVcpus) {
      r.row('threads', 'qfThreadInfo..l, 4 vCPUs, no-ack (median / p99 us)', 'lower');
      const list = await threadList(client, ctx.rt);
      r.latency('threads', t, list.latency);
      r.row('hg', 'Hg<n> + g round robin, 4 vCPUs, no-ack (median / p99 us per pair)', 'lower');
      r.latency('hg', t, await registerRoundRobin(client, list.threads, ctx.rt));
    }
    await client.request('D').catch(() => undefined);
    await client.close();
  } finally {
    await target.stop();
  }
}

/** RSS with the largest guest the stub's loader takes (3 GiB; QEMU gets the same). */
async function benchBigGuest(kind: TargetKind, ctx: Context): Promise<void> {
  const t = kind.name;
  ctx.results.row('rss3g', 'stub RSS, 3 GiB guest, after 16 MiB written (MiB)', 'lower');
  const target = await launch(
    kind,
    { kernel: ctx.kernels.up, memoryMiB: 3072, cpus: 1, cmdline: '', readyLine: 'up ok' },
    ctx.launchOptions,
  );
  try {
    const session = await attach(target.port);
    await writeMemory(
      session.client,
      session.packetSize,
      PATTERN_ADDRESS,
      testPattern(PATTERN_BYTES),
    );
    const rss = residentBytes(target.pid);
    ctx.results.rate('rss3g', t, rss === undefined ? undefined : rss / MiB);
    await session.client.request('D').catch(() => undefined);
    await session.client.close();
  } finally {
    await target.stop();
  }
}

/** Runs one step of the benchmark; a failure is one table cell, not the end of the run. */
/**
 * Pins this process (every thread) to one CPU, so that the client, each stub
 * and QEMU it starts, and the floor's processes inherit the same placement.
 * On small VMs a wake-up across CPUs costs more than a whole round trip on
 * one (measured here: a C ping-pong takes 12 us on one CPU, 55 us across
 * two), and where the scheduler puts each process changes from run to run.
 */
function place(cpu: string): string {
  if (cpu === 'free') return 'placement left to the scheduler';
  if (!/^\d+$/.test(cpu) || Number(cpu) >= os.cpus().length) {
    throw new Error(`--cpu ${cpu}: not a CPU of this machine`);
  }
  try {
    execFileSync('taskset', ['-a', '-cp', cpu, String(process.pid)], { stdio: 'ignore' });
    return `everything on CPU ${cpu}`;
  } catch {
    return 'placement left to the scheduler (taskset failed)';
  }
}

async function guarded(what: string, kind: TargetKind, ctx: Context, body: () => Promise<void>) {
  try {
    await body();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    say(`${kind.name}: ${what} failed: ${message}`);
    ctx.results.row('errors', 'errors', 'none');
    const old = ctx.results.get('errors', kind.name)?.text;
    ctx.results.set('errors', kind.name, { text: old ? `${old}; ${what}` : what });
  }
}

export async function main(argv: string[], root: string): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      targets: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'soak-only': { type: 'boolean', default: false },
      'linux-boot-only': { type: 'boolean', default: false },
      'real-clients-only': { type: 'boolean', default: false },
      'no-real-clients': { type: 'boolean', default: false },
      rounds: { type: 'string' },
      rows: { type: 'string' },
      'real-pinned': { type: 'string' },
      'agent-only': { type: 'boolean', default: false },
      'stub-root': { type: 'string', default: root },
      qemu: { type: 'string' },
      cpu: { type: 'string', default: '0' },
      'cpu-prof': { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const stubRoot = path.resolve(values['stub-root']);
  if (!fs.existsSync(path.join(stubRoot, 'dist', 'cli.js'))) {
    say(`${stubRoot}/dist/cli.js is missing: run npm run build:ts first`);
    return 1;
  }
  const qemuBinary = values.qemu ?? which('qemu-system-x86_64');
  const kvm = kvmOpens();
  let names = values.targets?.split(',') ?? ['qemu-tcg', 'emu', 'qemu-kvm', 'kvm'];
  for (const name of names) {
    if (!(name in KINDS)) {
      say(`unknown target ${name}; known: ${Object.keys(KINDS).join(', ')}`);
      return 2;
    }
  }
  if (qemuBinary === undefined) {
    say('qemu-system-x86_64 not found (Debian: apt install qemu-system-x86): no QEMU columns');
    names = names.filter((n) => !KINDS[n]!.qemu);
  }
  if (!kvm) {
    say('/dev/kvm does not open: no KVM columns');
    names = names.filter((n) => KINDS[n]!.accel !== 'kvm');
  }
  const kernels = {
    up: path.join(root, 'test', 'fixtures', 'guest', 'bin', 'up.elf'),
    smp: path.join(root, 'test', 'fixtures', 'guest', 'bin', 'smp.elf'),
    lines: path.join(root, 'test', 'fixtures', 'guest', 'bin', 'lines.elf'),
  };
  for (const kernel of Object.values(kernels)) {
    if (!fs.existsSync(kernel)) {
      say(`${kernel} is missing: run npm run build:kernels first`);
      return 1;
    }
  }
  const up = symbolsOf(kernels.up);
  const smp = symbolsOf(kernels.smp);
  const workDir = makeWorkDir();
  const profDir = values['cpu-prof'] === undefined ? undefined : path.resolve(values['cpu-prof']);
  if (profDir !== undefined) fs.mkdirSync(profDir, { recursive: true });
  const quick = values.quick;
  const ctx: Context = {
    results: new Results(),
    launchOptions: {
      stubRoot,
      qemuBinary: qemuBinary ?? 'qemu-system-x86_64',
      nodeFlags: profDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profDir],
      workDir,
    },
    kernels,
    symbols: {
      addNumbers: need(up, 'add_numbers'),
      counter: need(up, 'counter'),
      pattern: need(up, 'pattern'),
      apArrived: need(smp, 'ap_arrived'),
    },
    rt: quick
      ? { samples: 500, ms: 250, minSamples: 20 }
      : { samples: 5000, ms: 1000, minSamples: 50 },
    loop: quick
      ? { samples: 300, ms: 500, minSamples: 5 }
      : { samples: 5000, ms: 2000, minSamples: 20 },
    interrupts: quick ? 5 : 15,
    cReader: buildCReader(workDir),
    pingPong: buildPingPong(workDir),
  };
  const started = performance.now();
  const r = ctx.results;
  let realClients: RealClientResults | undefined;
  const onlyAnother = values['soak-only'] || values['linux-boot-only'] || values['agent-only'];
  if (!onlyAnother && !values['no-real-clients']) {
    // Before place(): the headline lets the scheduler place every process.
    realClients = await runRealClients(values, names, ctx, root);
    if (values['real-clients-only']) {
      say(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
      if (values.json !== undefined) {
        fs.writeFileSync(
          values.json,
          JSON.stringify({ realClients: jsonOf(realClients) }, null, 2),
        );
      }
      fs.rmSync(workDir, { recursive: true, force: true });
      return realClients === undefined ? 1 : 0;
    }
  }
  const placement = place(values.cpu);
  say(
    `machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; ${placement}`,
  );

  const linuxBoot = () =>
    linuxBootSection({
      root,
      stubRoot,
      qemuBinary: names.includes('qemu-tcg') ? qemuBinary : undefined,
      boots: quick ? 3 : 10,
      say,
    });
  if (values['linux-boot-only']) {
    process.stdout.write(`\n${await linuxBoot()}\n`);
    say(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    fs.rmSync(workDir, { recursive: true, force: true });
    return 0;
  }

  const soakCounts = quick ? QUICK_SOAK_COUNTS : SOAK_COUNTS;
  const soaks: string[] = [];
  const runSoak = async (kind: TargetKind) => {
    say(`${kind.name}: soak`);
    await guarded('soak', kind, ctx, async () => {
      const results: SoakResult[] = await soakUp(
        kind,
        kernels.up,
        ctx.symbols.addNumbers,
        soakCounts,
        ctx.launchOptions,
        say,
      );
      soaks.push(soakTable(kind.name, results));
    });
  };
  if (values['soak-only']) {
    for (const name of names) if (!KINDS[name]!.qemu) await runSoak(KINDS[name]!);
    process.stdout.write(`\n${soaks.join('\n\n')}\n`);
    say(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    fs.rmSync(workDir, { recursive: true, force: true });
    return soaks.length > 0 ? 0 : 1;
  }

  const agentBudget = quick ? { continues: 2, dprintfRuns: 1 } : { continues: 5, dprintfRuns: 3 };
  const runAgent = async (kind: TargetKind) => {
    say(`${kind.name}: agent expressions, real gdb`);
    await guarded('agent expressions', kind, ctx, () =>
      benchAgentExpressions(kind, kernels.up, r, ctx.launchOptions, agentBudget),
    );
  };
  if (values['agent-only']) {
    for (const name of names) await runAgent(KINDS[name]!);
    const pairs = [
      { qemu: 'QEMU TCG', ours: 'emu' },
      { qemu: 'QEMU KVM', ours: 'kvm' },
    ].filter(({ qemu, ours }) => names.some((n) => [qemu, ours].includes(KINDS[n]!.name)));
    process.stdout.write(`\n${r.markdown(pairs)}\n\n${agentTargets(r, pairs)}\n`);
    say(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    if (values.json !== undefined)
      fs.writeFileSync(values.json, JSON.stringify({ results: r }, null, 2));
    fs.rmSync(workDir, { recursive: true, force: true });
    return 0;
  }

  say('loopback floor');
  r.row('floor', 'loopback floor: this Node client, C server (median / p99 us)', 'none');
  r.row('floor-node', 'loopback: Node client and server (median / p99 us)', 'none');
  r.row('floor-c', 'loopback: C client and server (median / p99 us)', 'none');
  const pingPong = ctx.pingPong;
  const floor = await nodeToCLoopback(pingPong, ctx.rt);
  const nodeFloor = await nodeLoopback(ctx.rt);
  const cFloor = cLoopback(pingPong, quick ? 2000 : 20000);
  for (const name of names) {
    r.latency('floor', KINDS[name]!.name, floor, 'no gcc');
    r.latency('floor-node', KINDS[name]!.name, nodeFloor);
    r.latency('floor-c', KINDS[name]!.name, cFloor, 'no gcc');
  }
  // Without gcc, the Node server stands in (it is slower: a lenient floor).
  const judgeFloor = floor ?? nodeFloor;
  r.row(
    'floor-idle',
    `idle loopback round trip: C server, after ${CTRL_C_RUN_MS} ms idle (median / p99 us)`,
    'none',
  );
  const idleFloor = await idleLoopback(pingPong, CTRL_C_RUN_MS, ctx.interrupts * 2);
  for (const name of names) r.latency('floor-idle', KINDS[name]!.name, idleFloor, 'no gcc');
  r.row('floor-bulk-m', 'm transport floor: C server, prebuilt replies, C client (MiB/s)', 'none');
  r.row('floor-bulk-x', 'x transport floor: C server, prebuilt replies, C client (MiB/s)', 'none');
  const bulk = await bulkFloor(workDir, ctx.cReader, OUR_PACKET_SIZE, PATTERN_BYTES);
  for (const name of names) {
    r.rate('floor-bulk-m', KINDS[name]!.name, bulk && bulk.m / MiB, 'no gcc');
    r.rate('floor-bulk-x', KINDS[name]!.name, bulk && bulk.x / MiB, 'no gcc');
  }

  for (const name of names) {
    const kind = KINDS[name]!;
    say(`${kind.name}: up.elf`);
    await guarded('up.elf', kind, ctx, () => benchUp(kind, ctx));
    say(`${kind.name}: 3 GiB guest`);
    await guarded('3 GiB guest', kind, ctx, () => benchBigGuest(kind, ctx));
    for (const cpus of PAUSE_CPUS) {
      say(`${kind.name}: smp.elf, ${cpus} vCPUs`);
      await guarded(`smp ${cpus}`, kind, ctx, () => benchSmp(kind, ctx, cpus));
    }
    for (const cpus of kind.qemu ? [] : IDLE_PAUSE_CPUS) {
      say(`${kind.name}: smp.elf, ${cpus} vCPUs, --vcpu-priority idle`);
      await guarded(`smp ${cpus} idle`, kind, ctx, () => benchSmp(kind, ctx, cpus, true));
    }
    if (!kind.qemu) await runSoak(kind);
    await runAgent(kind);
  }

  const pairs = [
    { qemu: 'QEMU TCG', ours: 'emu' },
    { qemu: 'QEMU KVM', ours: 'kvm' },
  ].filter(({ qemu, ours }) =>
    names.some((n) => KINDS[n]!.name === qemu || KINDS[n]!.name === ours),
  );
  process.stdout.write(`\n${r.markdown(pairs)}\n\n`);
  process.stdout.write(targetsReport(r, pairs, judgeFloor.median, idleFloor?.median, bulk) + '\n');
  process.stdout.write(agentTargets(r, pairs) + '\n');
  if (soaks.length > 0) process.stdout.write(`Long-session soak:\n\n${soaks.join('\n\n')}\n\n`);
  if (names.includes('emu')) process.stdout.write(`${await linuxBoot()}\n\n`);
  say(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (values.json !== undefined) {
    fs.writeFileSync(
      values.json,
      JSON.stringify(
        { placement, floor, nodeFloor, cFloor, results: r, realClients: jsonOf(realClients) },
        null,
        2,
      ),
    );
  }
  if (profDir !== undefined) {
    const { total, spots } = hotSpots(profDir);
    process.stdout.write(`\nstub CPU profile (${total} samples, self time):\n`);
    for (const s of spots)
      process.stdout.write(`${s.percent.toFixed(1).padStart(6)}%  ${s.name}  ${s.where}\n`);
  }
  fs.rmSync(workDir, { recursive: true, force: true });
  return 0;
}

/**
 * The real-client section (bench/real_clients.ts): prints its table and
 * targets; undefined when no client or no target can run it.
 */
async function runRealClients(
  values: { quick: boolean; rounds?: string; rows?: string; 'real-pinned'?: string },
  names: string[],
  ctx: Context,
  root: string,
): Promise<RealClientResults | undefined> {
  const clients = { gdb: which('gdb') !== undefined, lldb: which('lldb') !== undefined };
  if (!clients.gdb) say('gdb not found (Debian: apt install gdb): no gdb rows');
  if (!clients.lldb) say('lldb not found (Debian: apt install lldb): no lldb rows');
  if (which('taskset') === undefined) {
    say('taskset not found (util-linux): no real-client section');
    return undefined;
  }
  if (!clients.gdb && !clients.lldb) return undefined;
  const all = `0-${os.cpus().length - 1}`;
  const placements: Placement[] = [{ suffix: '', cpus: all }];
  const pinned = values['real-pinned'];
  if (pinned !== undefined) {
    if (!/^\d+$/.test(pinned) || Number(pinned) >= os.cpus().length) {
      throw new Error(`--real-pinned ${pinned}: not a CPU of this machine`);
    }
    placements.push({ suffix: `, CPU ${pinned}`, cpus: pinned });
  }
  const rounds = values.rounds === undefined ? (values.quick ? 1 : 3) : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds ${values.rounds}`);
  say(
    `real clients: ${rounds} round(s); placement: free${pinned === undefined ? '' : `, then all on CPU ${pinned}`}; load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const kinds = names.map((n) => KINDS[n]!);
  const section = await realClientSection({
    root,
    kernels: ctx.kernels,
    kinds,
    launchOptions: ctx.launchOptions,
    placements,
    rounds,
    quick: values.quick,
    clients,
    only: values.rows === undefined ? undefined : new RegExp(values.rows),
    say,
  });
  const pairs = placements.flatMap(({ suffix }) =>
    [
      { qemu: 'QEMU TCG', ours: 'emu' },
      { qemu: 'QEMU KVM', ours: 'kvm' },
    ]
      .filter(({ qemu, ours }) => kinds.some((k) => k.name === qemu || k.name === ours))
      .map(({ qemu, ours }) => ({ qemu: qemu + suffix, ours: ours + suffix })),
  );
  process.stdout.write(
    `\nReal clients (gdb ${clientVersion('gdb')}, lldb ${clientVersion('lldb')}), ` +
      `median ms of ${rounds} round(s) [lowest-highest round]:\n\n${section.results.markdown(pairs)}\n\n`,
  );
  process.stdout.write(realClientTargets(section.results, pairs) + '\n\n');
  const columns = pairs.flatMap(({ qemu, ours }) => [qemu, ours]);
  process.stdout.write(
    'Where the time went: CPU time of the client (gdb or lldb) / of the target process ' +
      '(stub or QEMU, vCPU threads included), % of the timed wall time:\n\n' +
      `${cpuMarkdown(section, columns)}\n\n`,
  );
  return section;
}

function jsonOf(section: RealClientResults | undefined): object | undefined {
  if (section === undefined) return undefined;
  const cpu: Record<string, object> = {};
  for (const [key, shares] of section.cpu) cpu[key] = Object.fromEntries(shares);
  return { results: section.results, cpu };
}

function clientVersion(command: string): string {
  try {
    const out = execFileSync(command, ['--version'], { encoding: 'utf8', stdio: 'pipe' });
    return /(\d+\.\d+(?:\.\d+)?)/.exec(out.split('\n')[0]!)?.[1] ?? '?';
  } catch {
    return 'missing';
  }
}

/** Issue 6's targets, each as met or missed with its factor. */
function targetsReport(
  r: Results,
  pairs: { qemu: string; ours: string }[],
  floorUs: number,
  idleFloorUs: number | undefined,
  bulk: BulkFloor | undefined,
): string {
  const lines = ['Targets (issue 6), no-ack figures, factors >1 mean vmm-gdbstub is faster:'];
  const check = (ok: boolean | undefined, text: string) =>
    lines.push(`- ${ok === undefined ? 'n/a ' : ok ? 'met ' : 'MISS'} ${text}`);
  const f = (v: number | undefined) => (v === undefined ? '?' : `${v.toFixed(2)}x`);
  for (const { qemu, ours } of pairs) {
    const qc = r.get('rt-qC.no-ack', ours)?.value;
    const qcFactor = r.factor('rt-qC.no-ack', ours, qemu);
    // The floor measured right after this qC where there is one.
    const qcFloor = r.get('floor-qc', ours)?.value ?? floorUs;
    // A trivial Node echo server next to it: what Node's socket path alone costs.
    const echo = r.get('floor-node-qc', ours)?.value;
    const echoNote =
      echo === undefined
        ? ''
        : `; a Node echo server, same client: ${fmt(echo)} us = ${(echo / qcFloor).toFixed(2)}x`;
    check(
      qc === undefined ? undefined : qc <= 1.3 * qcFloor && (qcFactor ?? 1) >= 1,
      `${ours}: qC ${qc === undefined ? '?' : fmt(qc)} us = ${qc === undefined ? '?' : (qc / qcFloor).toFixed(2)}x the loopback floor (<= 1.3x), ${f(qcFactor)} QEMU (>= 1x)${echoNote}`,
    );
    for (const [prefix, client] of [
      ['read', 'TypeScript client'],
      ['cread', 'C client'],
    ] as const) {
      const mq = r.get(prefix === 'read' ? 'read-m.ack' : 'cread-m', qemu)?.value;
      // Where even prebuilt replies cannot reach the target, say so; and
      // where the TypeScript client's own CPU time alone is over what the
      // target allows (one request in flight: its work never overlaps the
      // stub's, so no stub could reach the target with this client).
      const limits = (packet: 'm' | 'x', floor: number | undefined, want: number) => {
        const notes: string[] = [];
        if (floor !== undefined && mq !== undefined && floor < want * mq * MiB) {
          notes.push(
            `the transport floor, ${fmt(floor / MiB)} MiB/s, is ${(floor / MiB / mq).toFixed(2)}x`,
          );
        }
        const cpuMs = r.get(`client-cpu-${packet}.no-ack`, ours)?.value;
        if (prefix === 'read' && cpuMs !== undefined && mq !== undefined) {
          const allowedMs = (PATTERN_BYTES / MiB / (want * mq)) * 1000;
          if (cpuMs > allowedMs) {
            const bound = PATTERN_BYTES / MiB / (cpuMs / 1000);
            notes.push(
              `the client's own CPU time, ${fmt(cpuMs)} ms, is over the ${fmt(allowedMs)} ms ${want}x allows: ` +
                `with this client no stub can pass ${fmt(bound)} MiB/s = ${(bound / mq).toFixed(2)}x`,
            );
          }
        }
        return notes.map((n) => `; ${n}`).join('');
      };
      const m = r.factor(prefix === 'read' ? 'read-m.no-ack' : 'cread-m', ours, qemu);
      check(
        m === undefined ? undefined : m >= 10,
        `${ours}: m ${f(m)} QEMU's m, ${client} (>= 10x)${limits('m', bulk?.m, 10)}`,
      );
      const xq = r.get(prefix === 'read' ? 'read-x.no-ack' : 'cread-x', ours)?.value;
      const x = xq !== undefined && mq !== undefined ? xq / mq : undefined;
      check(
        x === undefined ? undefined : x >= 15,
        `${ours}: x ${f(x)} QEMU's m, ${client} (>= 15x; QEMU has no x)${limits('x', bulk?.x, 15)}`,
      );
    }
    for (const [key, what] of [
      ['steps', 'single steps'],
      ['bp-gdb', 'gdb breakpoint cycles'],
      ['bp-plain', 'plain breakpoint continues'],
    ]) {
      const v = r.factor(`${key}.no-ack`, ours, qemu);
      check(v === undefined ? undefined : v >= 2, `${ours}: ${what} ${f(v)} QEMU (>= 2x)`);
    }
    // "The idle loopback round trip": one after the same idle time as the
    // Ctrl-C's run; the back-to-back floor is shown beside it.
    const c = r.get('ctrlc.no-ack', ours)?.value;
    check(
      c === undefined || idleFloorUs === undefined ? undefined : c <= 1.5 * idleFloorUs,
      `${ours}: Ctrl-C ${c === undefined ? '?' : fmt(c)} us = ${c === undefined || idleFloorUs === undefined ? '?' : (c / idleFloorUs).toFixed(2)}x the idle loopback round trip (<= 1.5x); ${c === undefined ? '?' : (c / floorUs).toFixed(2)}x the back-to-back one`,
    );
  }
  for (const [key, how] of [
    ['pause-64', 'default'],
    ['pause-idle-64', '--vcpu-priority idle'],
  ] as const) {
    const p64 = r.get(key, 'kvm')?.value;
    check(
      p64 === undefined ? undefined : p64 < 1000,
      `kvm: pause all 64 vCPUs, ${how}: ${p64 === undefined ? '?' : fmt(p64)} us (< 1 ms)`,
    );
  }
  return lines.join('\n');
}
