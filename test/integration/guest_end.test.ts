import { testBackends } from '../support/backends';
import { startCli } from '../support/cli_process';
import { stubLauncher } from '../support/gdb';
import { kernelPath } from '../support/kernels';

// irqstress.elf runs its passes, prints its verdict and, with `end=1`, halts
// every vCPU with interrupts disabled, with `end=2` resets the machine
// through the i8042: either way the guest has ended. gdb gets the exit reply
// (W00, "exited normally") and the CLI exits 0, as when a guest powers off.
// emu only: under kvm the in-kernel local APIC keeps a halted vCPU inside
// KVM_RUN, so only a power-off or reset (KVM_EXIT_SYSTEM_EVENT) ends it there.

const run = (end: number) => ['--cmdline', `passes=2000 irqs=2 end=${end}`];

const backend = testBackends().find((b) => b.name === 'emu')!;

describe('a guest that halts for good [emu]', () => {
  jest.setTimeout(backend.timeoutMs);
  const launch = stubLauncher(backend);

  it('gdb sees the guest exit normally, and the CLI exits 0 once gdb has gone', async () => {
    const stub = await launch({ kernel: 'irqstress', args: [...run(1), '--wait'] });
    const gdb = await stub.gdb([stub.target, 'continue', 'info inferiors']);
    expect(gdb.stdout + gdb.stderr).toMatch(/the guest ended: every vCPU halted/);
    expect(gdb.stdout).toMatch(/\[Inferior 1 \(.*\) exited normally\]/);
    expect(stub.cli.stdout()).toMatch(/irqstress 1 cpus .* exact/);
    expect(await stub.cli.exited).toBe(0);
    expect(stub.cli.stderr()).not.toMatch(/stays up/);
  });

  it('a reset with no debugger attached: the CLI says so and exits 0 (the stub does not stay up)', async () => {
    const stub = await launch({ kernel: 'irqstress', args: run(2) });
    expect(await stub.cli.exited).toBe(0);
    expect(stub.cli.stderr()).toMatch(/the guest ended: the guest reset the machine/);
  });

  it('a reset under gdb is the exit reply too', async () => {
    const stub = await launch({ kernel: 'irqstress', args: [...run(2), '--wait'] });
    const gdb = await stub.gdb([stub.target, 'continue']);
    expect(gdb.stdout + gdb.stderr).toMatch(/the guest ended: the guest reset the machine/);
    expect(gdb.stdout).toMatch(/\[Inferior 1 \(.*\) exited normally\]/);
    expect(await stub.cli.exited).toBe(0);
  });

  it('without a gdb server, the CLI exits 0', async () => {
    const cli = startCli(['run', kernelPath('irqstress'), '--backend', backend.name, ...run(1)]);
    try {
      expect(await cli.exited).toBe(0);
      expect(cli.stdout()).toMatch(/exact/);
    } finally {
      await cli.stop();
    }
  });
});
