import { bootKernel, type BootedGuest } from '../support/emu_guest';
import { BOOT_LINES } from '../support/kernels';

describe('emu backend boots each test kernel to its COM1 line', () => {
  let guest: BootedGuest | undefined;
  afterEach(() => guest?.destroy());

  it.each(BOOT_LINES)('%s', async (name, line) => {
    guest = bootKernel(name);
    await guest.waitForConsole(line);
    expect(guest.console()).not.toMatch(/exception|bad multiboot magic/);
  });

  it('smp starts every vCPU through INIT/SIPI', async () => {
    guest = bootKernel('smp', { cpus: 4, cmdline: 'cpus=4' });
    await guest.waitForConsole(/vmm-gdbstub test kernel: smp 4 cpus up\n/, 30000);
    for (let v = 0; v < 4; v++) expect(guest.vmm.vcpuState(v)).toBe('running');
  });
});
