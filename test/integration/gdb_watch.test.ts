import { describeEachBackend, type TestBackend } from '../support/backends';
import { expectNoGdbErrors, stubLauncher } from '../support/gdb';

// Real gdb (batch mode): hbreak, watch, rwatch and awatch on up.elf, whose
// main loop increments `counter` and reads `test_var` on every pass.

/**
 * Why data watchpoints cannot run on this backend, if they cannot: none
 * today (emu emulates them; kvm uses DR7 on hardware KVM and memory-slot
 * protection for read slots and on PVM, docs/kvm.md).
 */
function noWatchpoints(backend: TestBackend): string | undefined {
  void backend;
  return undefined;
}

/** The values gdb printed as `Old value = N` / `New value = N`. */
function values(stdout: string, which: 'Old' | 'New' | ''): bigint[] {
  const label = which === '' ? 'Value' : `${which} value`;
  return [...stdout.matchAll(new RegExp(`^${label} = (\\d+)$`, 'gm'))].map((m) => BigInt(m[1]!));
}

describeEachBackend('gdb', 'gdb hardware breakpoints and watchpoints', (backend) => {
  const startStub = stubLauncher(backend);
  const skipReason = noWatchpoints(backend);
  const watchIt = skipReason === undefined ? it : it.skip;
  if (skipReason !== undefined) {
    console.log(`SKIP ${backend.name} gdb watchpoint tests: ${skipReason}`);
  }

  it(
    'hbreak add_numbers stops there with a hardware breakpoint, and again on the next pass',
    async () => {
      const stub = await startStub({ kernel: 'up', ready: /up ok\n/ });
      const gdb = await stub.gdb([
        stub.target,
        'hbreak add_numbers',
        'continue',
        'info frame',
        'print $pc == add_numbers',
        'continue',
        'print b',
        'detach',
      ]);
      expectNoGdbErrors(gdb);
      expect(gdb.stdout).toMatch(/^Hardware assisted breakpoint 1 at 0x[0-9a-f]+: file .*up\.c/m);
      expect(gdb.stdout.match(/^Breakpoint 1, add_numbers \(/gm)).toHaveLength(2);
      expect(gdb.stdout).toMatch(/^ rip = 0x[0-9a-f]+ in add_numbers \(.*up\.c:\d+\); saved rip/m);
      expect(gdb.stdout).toMatch(/^\$1 = 1$/m);
      expect(gdb.stdout).toMatch(/\[Inferior 1 \(Remote target\) detached\]/);
    },
    backend.timeoutMs,
  );

  watchIt(
    'watch counter stops after each increment with the old and new values',
    async () => {
      const stub = await startStub({ kernel: 'up', ready: /up ok\n/ });
      const gdb = await stub.gdb([
        stub.target,
        'watch counter',
        'continue',
        'continue',
        'info threads',
        'detach',
      ]);
      expectNoGdbErrors(gdb);
      expect(gdb.stdout).toMatch(/^Hardware watchpoint 1: counter$/m);
      const olds = values(gdb.stdout, 'Old');
      const news = values(gdb.stdout, 'New');
      expect(olds).toHaveLength(2);
      expect(news).toEqual([olds[0]! + 1n, olds[1]! + 1n]);
      expect(olds[1]).toBe(news[0]);
      // Reported after the store: gdb shows the line after counter++.
      expect(gdb.stdout).toMatch(/^kmain \(.*\) at .*up\.c:\d+$/m);
      expect(gdb.stdout).toMatch(/^\* 1\s+Thread 1 /m);
    },
    backend.timeoutMs,
  );

  watchIt(
    'rwatch test_var stops when the loop reads it',
    async () => {
      const stub = await startStub({ kernel: 'up', ready: /up ok\n/ });
      const gdb = await stub.gdb([stub.target, 'rwatch test_var', 'continue', 'detach']);
      expectNoGdbErrors(gdb);
      expect(gdb.stdout).toMatch(/^Hardware read watchpoint 1: test_var$/m);
      expect(values(gdb.stdout, '')).toEqual([0n]);
      expect(gdb.stdout).toMatch(/ in kmain \(.*\) at .*up\.c:\d+$/m);
    },
    backend.timeoutMs,
  );

  watchIt(
    'awatch counter stops on its read and on its write',
    async () => {
      const stub = await startStub({ kernel: 'up', ready: /up ok\n/ });
      const gdb = await stub.gdb([
        stub.target,
        'awatch counter',
        'continue',
        'continue',
        'continue',
        'detach',
      ]);
      expectNoGdbErrors(gdb);
      expect(gdb.stdout).toMatch(/^Hardware access \(read\/write\) watchpoint 1: counter$/m);
      // A read shows `Value = N`, a write `Old value = N` / `New value = N+1`.
      const reads = values(gdb.stdout, '');
      const olds = values(gdb.stdout, 'Old');
      const news = values(gdb.stdout, 'New');
      expect(reads.length + olds.length).toBe(3);
      expect(reads.length).toBeGreaterThan(0);
      expect(olds.length).toBeGreaterThan(0);
      olds.forEach((old, i) => expect(news[i]).toBe(old + 1n));
    },
    backend.timeoutMs,
  );
});
