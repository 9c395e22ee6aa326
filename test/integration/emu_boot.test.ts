import { bootKernel, type BootedGuest } from '../support/emu_guest';

describe('emu backend boots each test kernel to its COM1 line', () => {
  let guest: BootedGuest | undefined;
  afterEach(() => guest?.destroy());

  it.each([
    ['up', /vmm-gdbstub test kernel: up ok\n/],
    ['higher', /vmm-gdbstub test kernel: higher ok\n/],
    ['timer', /vmm-gdbstub test kernel: timer ok\n/],
    ['elf64', /vmm-gdbstub test kernel: elf64 ok\n/],
  ] as const)('%s', async (name, line) => {
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
