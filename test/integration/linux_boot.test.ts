import { startCli, type CliProcess } from '../support/cli_process';
import { fetchLinux, linuxRunArgs, type LinuxImages } from '../support/linux_images';

// Debian's stock kernel (the one linux-image-amd64 depends on) and a busybox
// initramfs, fetched from Debian's packages by scripts/fetch-linux.js into
// its cache, booted the way a user does: `vmm-gdbstub run bzImage --initrd
// ... --append console=ttyS0`, on emu, with timer interrupts on and no
// special kernel parameters. /init prints a marker and powers off, or runs
// a shell on the console (vmm_shell=1).

// A boot takes 5-10 s on emu here; fetching, about 5 s from a warm cache.
const BOOT_MS = 120000;
jest.setTimeout(4 * BOOT_MS);

let linux: LinuxImages;
beforeAll(() => {
  linux = fetchLinux();
});

let cli: CliProcess | undefined;
afterEach(async () => {
  if (cli !== undefined && cli.child.exitCode === null) await cli.stop();
  cli = undefined;
});

function boot(cpus: number, append: string, stdin: 'ignore' | 'pipe' = 'ignore'): CliProcess {
  cli = startCli(linuxRunArgs(linux, append, cpus), process.env, stdin);
  return cli;
}

describe("Debian's stock kernel on emu", () => {
  it.each([1, 2])(
    '--cpus %d: boots to /init with every CPU up, and its power-off ends the run with status 0',
    async (cpus) => {
      const c = boot(cpus, 'console=ttyS0');
      await c.waitFor('stdout', new RegExp(linux.marker), BOOT_MS);
      expect(c.stdout()).toContain(`Linux version ${linux.version}`);
      expect(c.stdout()).toMatch(
        new RegExp(`smp: Brought up 1 node, ${cpus} CPUs?|Total of ${cpus} processors activated`),
      );
      // The TSC's rate comes from CPUID 0x15: no delay-loop calibration, and
      // the TSC is the clocksource.
      expect(c.stdout()).toMatch(/Calibrating delay loop \(skipped\)/);
      expect(c.stdout()).toMatch(/clocksource: Switched to clocksource tsc/);
      expect(await c.exited).toBe(0);
      expect(c.stdout()).toMatch(/reboot: (System halted|Power down)/);
      expect(c.stderr()).toMatch(/the guest ended: every vCPU halted/);
      expect(c.stdout()).not.toMatch(/Kernel panic|BUG:|Oops|segfault|soft lockup/);
    },
  );

  it('--cpus 2: a busybox shell on the console answers through --serial stdio (COM1 input, IRQ 4)', async () => {
    const c = boot(2, 'console=ttyS0 vmm_shell=1', 'pipe');
    await c.waitFor('stdout', new RegExp(linux.marker), BOOT_MS);
    // busybox's prompt; kernel messages and a cursor-position query may follow it.
    await c.waitFor('stdout', /\/ # /, BOOT_MS);
    c.child.stdin!.write('echo answer-$((6*7))\n');
    await c.waitFor('stdout', /answer-42/, BOOT_MS);
    c.child.stdin!.write('poweroff -f\n');
    expect(await c.exited).toBe(0);
  });
});
