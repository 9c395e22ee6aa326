import { startCli, type CliProcess } from '../support/cli_process';
import { kernelPath, symbol } from '../support/kernels';
import { lldbInstalled, runLldb, type LldbResult } from '../support/lldb';
import { RspClient } from '../support/rsp_client';

// Real lldb (Debian 12's lldb 14 in CI) against `vmm-gdbstub run` on the emu backend.

const HAVE_LLDB = lldbInstalled();
if (!HAVE_LLDB) console.log('SKIP lldb_session: no lldb on PATH (CI installs it)');
const maybe = HAVE_LLDB ? it : it.skip;

jest.setTimeout(120000);

let cli: CliProcess | undefined;
afterEach(async () => {
  await cli?.stop();
  cli = undefined;
});

async function startStub(extra: string[]): Promise<number> {
  cli = startCli(['run', kernelPath('up'), '--backend', 'emu', '--gdb', '127.0.0.1:0', ...extra]);
  const [, port] = await cli.waitFor('stderr', /gdb server on 127\.0\.0\.1:(\d+)/);
  return Number(port);
}

function lldb(port: number, commands: string[]): Promise<LldbResult> {
  return runLldb(kernelPath('up'), [`gdb-remote 127.0.0.1:${port}`, ...commands]);
}

/** lldb's `register read` line for a register: its value as a number. */
function register(out: string, name: string): bigint {
  const match = new RegExp(`^\\s*${name} = (0x[0-9a-f]+)`, 'm').exec(out);
  if (match === null) throw new Error(`no ${name} in:\n${out}`);
  return BigInt(match[1]!);
}

/** The bytes of lldb's `memory read` lines (hex dump, 16 per line). */
function dumpedBytes(out: string): number[] {
  return [...out.matchAll(/^0x[0-9a-f]+: ((?:[0-9a-f]{2} )+)/gm)].flatMap((m) =>
    m[1]!
      .trim()
      .split(' ')
      .map((b) => parseInt(b, 16)),
  );
}

/** The counter's value as `memory read` of its address shows it (8 bytes, decimal). */
function counterValue(out: string): bigint {
  const match = /^0x[0-9a-f]+: (\d+)$/m.exec(out);
  if (match === null) throw new Error(`no counter value in:\n${out}`);
  return BigInt(match[1]!);
}

const COUNTER = `0x${symbol('up', 'counter').toString(16)}`;
const readCounter = `memory read -f d -s 8 -c 1 ${COUNTER}`;

maybe(
  'with --wait, lldb finds vCPU 0 at the Multiboot entry, steps, and detach lets it boot',
  async () => {
    const port = await startStub(['--wait']);
    const out = await lldb(port, [
      'register read rip rax rbx eflags cs ss mxcsr xmm0 st0',
      'thread step-inst',
      'register read rip',
      'memory region 0x100020',
      'thread list',
      'detach',
    ]);
    expect(out.stdout).not.toMatch(/error:/);
    const [before, after] = out.stdout.split('thread step-inst');
    expect(register(before!, 'rip')).toBe(0x100020n);
    expect(register(before!, 'rax')).toBe(0x2badb002n);
    expect(register(before!, 'rbx')).toBe(0x90000n);
    expect(register(before!, 'eflags')).toBe(0x2n);
    expect(register(before!, 'cs')).toBe(0x8n);
    expect(register(before!, 'ss')).toBe(0x10n);
    expect(register(before!, 'mxcsr')).toBe(0x1f80n);
    expect(before).toMatch(/^\s*xmm0 = \{(0x00 ){15}0x00\}/m);
    expect(before).toMatch(/^\s*st0 = /m);
    expect(register(after!, 'rip')).toBe(0x100021n);
    expect(out.stdout).toMatch(/\[0x0+-0x0+200000\) rwx/);
    expect(out.stdout).toMatch(/\* thread #1: tid = 0x0001, 0x0+100021 .*name = 'vCPU 0'/);
    expect(out.stdout).toMatch(/Process 1 detached/);
    await cli!.waitFor('stdout', /vmm-gdbstub test kernel: up ok\n/);
  },
);

maybe('on a running guest: memory, a breakpoint, a step, threads, detach; it runs on', async () => {
  const port = await startStub(['--cpus', '2']);
  await cli!.waitFor('stdout', /up ok/);
  const out = await lldb(port, [
    'memory read -c 32 &pattern',
    readCounter,
    readCounter,
    'breakpoint set -n add_numbers',
    'continue',
    'frame info',
    'thread step-inst',
    'register read rip',
    'thread list',
    'breakpoint delete --force',
    readCounter,
    'detach',
  ]);
  expect(out.stdout).not.toMatch(/error:/);
  const expected = Array.from({ length: 32 }, (_, i) => (i * 7 + 3) & 0xff);
  expect(dumpedBytes(out.stdout)).toEqual(expected);
  const counters = [...out.stdout.matchAll(/^0x[0-9a-f]+: (\d+)$/gm)].map((m) => BigInt(m[1]!));
  expect(counters).toHaveLength(3);
  expect(counters[0]).toBe(counters[1]); // stopped while lldb looks
  expect(counters[2]! - counters[1]!).toBe(1n); // one loop to add_numbers
  expect(out.stdout).toMatch(
    /stop reason = breakpoint 1\.1\n\s+frame #0: 0x0+101314 up\.elf`add_numbers/,
  );
  expect(out.stdout).toMatch(/^frame #0: 0x0+101314 up\.elf`add_numbers/m);
  const add = symbol('up', 'add_numbers');
  const afterStep = out.stdout.split('thread step-inst')[1]!;
  expect(register(afterStep, 'rip')).toBe(add + 4n); // lea (4 bytes), then ret
  expect(afterStep).toMatch(/stop reason = instruction step into/);
  expect(out.stdout).toMatch(/\* thread #1: tid = 0x0001, .*name = 'vCPU 0', stop reason/);
  expect(out.stdout).toMatch(/ {2}thread #2: tid = 0x0002, .*name = 'vCPU 1'/);
  expect(out.stdout).toMatch(/Process 1 detached/);

  // Detached: the guest ran on, and the breakpoint is gone from its memory.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const again = await lldb(port, [readCounter, `memory read -c 1 -f x -s 1 ${add}`, 'detach']);
  expect(again.stdout).not.toMatch(/error:/);
  expect(counterValue(again.stdout)).toBeGreaterThan(counters[2]!);
  expect(again.stdout).toMatch(/: 0x48$/m); // the original first byte of add_numbers
});

/** Whether the stub takes a write watchpoint on counter (Z2), asked over a raw connection. */
async function stubTakesWatchpoints(port: number): Promise<string | undefined> {
  const client = await RspClient.connect({ host: '127.0.0.1', port });
  const info = await client.request('qWatchpointSupportInfo:');
  let reason: string | undefined;
  if (!info.startsWith('num:')) reason = `qWatchpointSupportInfo: gets '${info}'`;
  else {
    const set = await client.request(`Z2,${COUNTER.slice(2)},8`);
    if (set !== 'OK') reason = `Z2 gets '${set}'`;
    else await client.request(`z2,${COUNTER.slice(2)},8`);
  }
  await client.close();
  return reason;
}

maybe('watchpoint set variable counter stops where counter is written', async () => {
  const port = await startStub([]);
  await cli!.waitFor('stdout', /up ok/);
  const unsupported = await stubTakesWatchpoints(port);
  if (unsupported !== undefined) {
    console.log(`SKIP lldb watchpoint: the stub does not offer watchpoints (${unsupported})`);
    return;
  }
  const out = await lldb(port, [
    'watchpoint set variable counter',
    'continue',
    'watchpoint delete --force',
    'detach',
  ]);
  expect(out.stdout).not.toMatch(/error:/);
  const counter = symbol('up', 'counter').toString(16);
  expect(out.stdout).toMatch(
    new RegExp(`Watchpoint created: Watchpoint 1: addr = 0x0*${counter} size = 8`),
  );
  expect(out.stdout).toMatch(/stop reason = watchpoint 1/);
  expect(out.stdout).toMatch(/Process 1 detached/);
});

maybe(
  'thread step-inst takes rip, rsp and rbp from the stop reply (no p for them after a step), and they read right',
  async () => {
    const port = await startStub(['--trace-rsp']);
    const out = await lldb(port, [
      'breakpoint set --name add_numbers',
      'continue',
      'breakpoint delete --force',
      'thread step-inst',
      'thread step-inst',
      'register read rip rsp rbp',
      'detach',
    ]);
    expect(out.stdout).not.toMatch(/error:/);
    const trace = cli!.stderr();
    const steps = trace.split('rsp <- vCont;s');
    expect(steps.length).toBe(3);
    // Between the steps: no read of rbp (6), rsp (7) or rip (0x10) on its own
    // (lldb still reads what it shows of the frame, such as arguments).
    const afterFirstStep = steps[1]!;
    expect(afterFirstStep).not.toMatch(/rsp <- p(?:6|7|10);/);
    // The T reply carried them: rbp (6), rsp (7), rip (0x10).
    expect(afterFirstStep).toMatch(
      /rsp -> T05thread:1;06:[0-9a-f]{16};07:[0-9a-f]{16};10:[0-9a-f]{16};/,
    );
    // What lldb shows is what the vCPU holds: rip moved past add_numbers' first instruction.
    const at = symbol('up', 'add_numbers');
    const rip = register(out.stdout.split('register read')[1]!, 'rip');
    expect(rip).toBeGreaterThan(at);
    expect(register(out.stdout.split('register read')[1]!, 'rsp')).toBeGreaterThan(0n);
  },
);
