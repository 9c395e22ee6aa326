import { describeEachBackend } from '../support/backends';
import { bootKernel, type BootedGuest } from '../support/emu_guest';

// xmodify.elf: vCPU 0 rewrites the immediate of a function vCPU 1 keeps
// calling (a serialising CPUID before each call), calls it itself, and waits
// until vCPU 1 returns the new value too, round after round. On emu each
// vCPU is an engine with its own translated code: without the shared record
// of code pages (native/fakevmm/code_pages.cc) vCPU 1 ran its old
// translation for good, as Linux's CPUs did after a jump-label patch.

const RESULT = /xmodify (?:2 cpus (\d+) rounds exact|STALE .*|vCPU 1 did not start)\n/;

let guest: BootedGuest | undefined;
afterEach(() => {
  guest?.destroy();
  guest = undefined;
});

describeEachBackend('cross-modifying-code', 'code one vCPU writes and another runs', (backend) => {
  jest.setTimeout(backend.timeoutMs);

  it('every round, both vCPUs run the new bytes', async () => {
    guest = bootKernel('xmodify', { backend: backend.name, cpus: 2, cmdline: 'rounds=200' });
    const line = await guest.waitForConsole(RESULT, backend.timeoutMs - 10000);
    expect(line).toMatch(/xmodify 2 cpus 200 rounds exact/);
    expect(guest.console()).not.toMatch(/exception/);
  });
});
