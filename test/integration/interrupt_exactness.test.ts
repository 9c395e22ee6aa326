import { describeEachBackend } from '../support/backends';
import { bootKernel, type BootedGuest } from '../support/emu_guest';

// irqstress.elf counts what locked and unlocked read-modify-write and string
// instructions did under a fast local APIC timer (and the PIT on vCPU 0),
// and checks every total against the count it kept in a register. An
// instruction that an interrupt, a time slice or a debugger's pause makes
// run twice, or lose its effect, prints MISMATCH instead of exact.

const RESULT = /irqstress (\d+) cpus (\d+) passes (\d+) apic (\d+) pit (exact|MISMATCH)\n/;

let guest: BootedGuest | undefined;
afterEach(() => {
  guest?.destroy();
  guest = undefined;
});

interface Result {
  cpus: number;
  passes: number;
  apic: number;
  pit: number;
  verdict: string;
}

function parse(output: string): Result {
  const m = RESULT.exec(output)!;
  return { cpus: +m[1]!, passes: +m[2]!, apic: +m[3]!, pit: +m[4]!, verdict: m[5]! };
}

describeEachBackend('interrupts', 'guest instructions under interrupts', (backend) => {
  jest.setTimeout(backend.timeoutMs);
  // PVM emulates guest kernel code at about a million instructions a second,
  // and its local APIC timer fires at a rate that varies with the host's
  // load (measured: from tens to a third of an interrupt a second).
  const passes = backend.name === 'kvm' ? 20000 : 200000;
  const irqs = backend.name === 'kvm' ? 10 : 300;

  function boot(cpus: number): BootedGuest {
    guest = bootKernel('irqstress', {
      backend: backend.name,
      cpus,
      cmdline: `cpus=${cpus} passes=${passes} irqs=${irqs}`,
    });
    return guest;
  }

  // On emu, 2 vCPUs run side by side on a host with 2 CPUs or more (run
  // slots), and 4 share them by time slice too: locked instructions must be
  // host atomics across engines.
  const cpuCounts = backend.name === 'emu' ? [1, 2, 4] : [1, 2];
  it.each(cpuCounts)('%d vCPU(s): every counter is exact, with interrupts taken', async (cpus) => {
    const g = boot(cpus);
    const result = parse(await g.waitForConsole(RESULT, backend.timeoutMs - 10000));
    expect(g.console()).not.toMatch(/exception|failed checks|counters wrong/);
    expect(result).toMatchObject({ cpus, verdict: 'exact' });
    // Each vCPU runs its passes and on until it has taken `irqs` local APIC
    // timer interrupts (a slow timer means more passes).
    expect(result.passes).toBeGreaterThanOrEqual(passes * cpus);
    expect(result.apic).toBeGreaterThanOrEqual(irqs * cpus);
    // The PIT's interrupts reach vCPU 0 between the APIC timer's.
    expect(result.pit).toBeGreaterThan(0);
  });

  it('every counter is exact while a debugger pauses and resumes the vCPUs again and again', async () => {
    const g = boot(2);
    // A bounded storm (on PVM a pause costs milliseconds), then the run ends.
    const STORM = 400;
    let pauses = 0;
    while (!RESULT.test(g.console()) && pauses < STORM) {
      for (let v = 0; v < 2; v++) {
        if (g.vmm.vcpuState(v) !== 'running') continue;
        const stopped = g.nextStop(backend.timeoutMs);
        if (!g.vmm.pause(v)) continue;
        await stopped;
        g.vmm.resume(v);
        pauses++;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await g.waitForConsole(RESULT, backend.timeoutMs - 10000);
    expect(parse(g.console()).verdict).toBe('exact');
    expect(g.console()).not.toMatch(/exception|failed checks|counters wrong/);
    expect(pauses).toBeGreaterThan(50);
  });
});
