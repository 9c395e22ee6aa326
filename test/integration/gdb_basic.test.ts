import { kernelPath, symbol } from '../support/kernels';
import { startCli, type CliProcess } from '../support/cli_process';
import { runGdb } from '../support/gdb';

// Real gdb against `vmm-gdbstub run` on the emu backend.

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

it('with --wait, gdb finds vCPU 0 at the Multiboot entry, and detach lets it boot', async () => {
  const port = await startStub(['--wait']);
  const gdb = await runGdb(kernelPath('up'), [
    `target remote 127.0.0.1:${port}`,
    'info registers rip rax rbx',
    'x/3xw 0x100000',
    'detach',
  ]);
  expect(gdb.stderr).not.toMatch(/error|warning: (?!.*No executable)/i);
  expect(gdb.stdout).toMatch(/^rip\s+0x100020\s+0x100020 <_start>/m);
  expect(gdb.stdout).toMatch(/^rax\s+0x2badb002\s/m);
  expect(gdb.stdout).toMatch(/^rbx\s+0x90000\s/m);
  expect(gdb.stdout).toMatch(/0x100000.*:\s+0x1badb002\s+0x00010002\s+0xe4514ffc/);
  await cli!.waitFor('stdout', /vmm-gdbstub test kernel: up ok\n/);
});

it('attaching to a running guest stops it; x reads the known pattern', async () => {
  const port = await startStub([]);
  await cli!.waitFor('stdout', /up ok/);
  const gdb = await runGdb(kernelPath('up'), [
    `target remote 127.0.0.1:${port}`,
    'x/16xb &pattern',
    'print counter',
    'print counter',
    'info threads',
    'detach',
  ]);
  const bytes = Array.from(
    { length: 16 },
    (_, i) => '0x' + ((i * 7 + 3) & 0xff).toString(16).padStart(2, '0'),
  );
  const dumped = [
    ...gdb.stdout.matchAll(/<pattern(?:\+\d+)?>:[ \t]+((?:0x[0-9a-f]{2}[ \t]*)+)/g),
  ].flatMap((m) => m[1]!.trim().split(/\s+/));
  expect(dumped).toEqual(bytes);
  const counters = [...gdb.stdout.matchAll(/^\$\d+ = (\d+)$/gm)].map((m) => m[1]);
  expect(counters).toHaveLength(2);
  expect(counters[0]).toBe(counters[1]); // stopped while gdb looks
  expect(gdb.stdout).toMatch(/\* 1\s+Thread 1/);
  expect(symbol('up', 'pattern')).toBeGreaterThan(0n);
});
