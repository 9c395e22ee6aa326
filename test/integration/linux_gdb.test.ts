import { startCli, type CliProcess } from '../support/cli_process';
import { runGdb } from '../support/gdb';
import { fetchLinux, linuxRunArgs } from '../support/linux_images';

// gdb with Debian's vmlinux (the -dbg package's, DWARF included) on the
// stock bzImage it belongs to, booted on emu with 2 vCPUs the way a kernel
// developer starts QEMU with -s -S: a hardware breakpoint on start_kernel
// (the kernel is not yet at its link address before it), a software one in
// a system call /init makes, a backtrace through entry_SYSCALL_64, kernel
// data, a stop in user mode on /init's next SYSCALL and a step into the
// kernel's entry, a watchpoint on jiffies_64, then detach: the guest runs on to its
// power-off. `node scripts/fetch-linux.js --symbols` puts the vmlinux in the
// cache (.ci/run does); without it the suite prints a SKIP line, except on CI,
// where a missing vmlinux is a failure.

// Booting takes 5-10 s on emu here, and gdb about 10 s to read the
// vmlinux's 630 MB.
const SESSION_MS = 240000;
jest.setTimeout(SESSION_MS + 30000);

const linux = fetchLinux();
const vmlinux = linux.vmlinux;
const skip = vmlinux === undefined && process.env.CI !== 'true';
if (skip) {
  console.log(
    'SKIP linux-gdb suite: no vmlinux with symbols in the cache (node scripts/fetch-linux.js --symbols fetches it)',
  );
}

let cli: CliProcess | undefined;
afterEach(async () => {
  if (cli !== undefined && cli.child.exitCode === null) await cli.stop();
  cli = undefined;
});

(skip ? describe.skip : describe)("gdb with Debian's vmlinux on emu", () => {
  it('breaks in start_kernel and in a system call of /init, reads kernel data, steps from user mode into the system call entry, watches jiffies_64, and detaches', async () => {
    expect(vmlinux).toBeDefined(); // on CI: fetched by .ci/run
    cli = startCli([
      ...linuxRunArgs(linux, 'console=ttyS0 nokaslr', 2),
      '--gdb',
      '127.0.0.1:0',
      '--wait',
    ]);
    const [, port] = await cli.waitFor('stderr', /gdb server on 127\.0\.0\.1:(\d+)/);
    const gdb = await runGdb(
      vmlinux!,
      [
        `target remote 127.0.0.1:${port}`,
        'hbreak start_kernel',
        'continue',
        'info threads',
        'delete',
        'break __x64_sys_write',
        'continue',
        'bt',
        'print init_task.comm',
        // The user-mode address after this write's SYSCALL: /init's next
        // write (its second echo) runs the same instruction.
        'print/x regs->ip',
        'delete',
        'hbreak *($2 - 2)',
        'continue',
        'x/i $pc',
        'print $cs',
        'stepi',
        'print $cs',
        // On the kernel's page tables again (the entry runs a few
        // instructions on the user's, with page-table isolation).
        'tbreak do_syscall_64',
        'continue',
        'watch -l jiffies_64',
        'continue',
        'delete',
        'detach',
      ],
      SESSION_MS,
    );
    const out = gdb.stdout;
    expect(out).toMatch(/Thread 1 "vCPU 0" hit Breakpoint 1, start_kernel \(\) at init\/main\.c/);
    expect(out).toMatch(/\* 1 +Thread 1 "vCPU 0".*start_kernel/);
    expect(out).toMatch(/ 2 +Thread 2 "vCPU 1" \(waiting for SIPI\)/);
    expect(out).toMatch(
      /hit Breakpoint 2, __x64_sys_write \(regs=0x[0-9a-f]+\) at fs\/read_write\.c/,
    );
    expect(out).toMatch(
      /#\d+ +0x[0-9a-f]+ in entry_SYSCALL_64 \(\) at .*arch\/x86\/entry\/entry_64\.S/,
    );
    expect(out).toMatch(/\$1 = "swapper\/0(\\000)*"/);
    // Stopped in user mode on the SYSCALL (CS 0x33), one step is the
    // kernel's entry (CS 0x10).
    expect(out).toMatch(
      /hit Breakpoint 3, 0x[0-9a-f]+ in \?\? \(\)\n=> 0x[0-9a-f]+:\tsyscall\s*\n\$3 = 51\n/,
    );
    expect(out).toMatch(/entry_SYSCALL_64 \(\) at .*arch\/x86\/entry\/entry_64\.S:\d+\n\$4 = 16\n/);
    const watch = /Old value = (\d+)\nNew value = (\d+)/.exec(out);
    expect(watch).not.toBeNull();
    expect(BigInt(watch![2]!)).toBeGreaterThan(BigInt(watch![1]!));
    expect(out).toMatch(/\[Inferior 1 \(Remote target\) detached\]/);
    // Detached: /init runs on, prints its line and powers off.
    expect(await cli.exited).toBe(0);
    expect(cli.stdout()).toContain(linux.marker);
    expect(cli.stderr()).toMatch(/the guest ended/);
    expect(cli.stdout()).not.toMatch(/Kernel panic|BUG:|Oops|soft lockup/);
  });
});
