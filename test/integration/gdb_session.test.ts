import { kernelPath, symbol } from '../support/kernels';
import { startCli, type CliProcess } from '../support/cli_process';
import { runGdb } from '../support/gdb';

// Real gdb (batch mode) against `vmm-gdbstub run` on the emu backend: breakpoints and stepping.

let cli: CliProcess | undefined;
afterEach(async () => {
  await cli?.stop();
  cli = undefined;
});

async function startStub(): Promise<number> {
  cli = startCli(['run', kernelPath('up'), '--backend', 'emu', '--gdb', '127.0.0.1:0']);
  const [, port] = await cli.waitFor('stderr', /gdb server on 127\.0\.0\.1:(\d+)/);
  await cli.waitFor('stdout', /up ok/);
  return Number(port);
}

for (const noAck of [false, true]) {
  it(`break, continue, stepi, set var and detach${noAck ? ' (no-ack mode)' : ''}`, async () => {
    const port = await startStub();
    const gdb = await runGdb(kernelPath('up'), [
      `set remote noack-packet ${noAck ? 'on' : 'off'}`,
      `target remote 127.0.0.1:${port}`,
      'break add_numbers',
      'continue',
      'info frame',
      'print/x $pc',
      'stepi',
      'print/x $pc',
      'set var test_var = 7',
      'delete',
      'detach',
    ]);
    const at = symbol('up', 'add_numbers');
    expect(gdb.stdout).toMatch(/Breakpoint 1, .*add_numbers/);
    expect(gdb.stdout).toMatch(/rip = 0x[0-9a-f]+ in add_numbers/);
    const pcs = [...gdb.stdout.matchAll(/^\$\d+ = (0x[0-9a-f]+)$/gm)].map((m) => BigInt(m[1]!));
    expect(pcs[0]).toBe(at);
    expect(pcs[1]).toBeGreaterThan(at);
    await cli!.waitFor('stdout', /test_var=7\n/);
  });
}
