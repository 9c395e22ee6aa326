import { describeEachBackend } from '../support/backends';
import {
  examinedBytes,
  expectNoGdbErrors,
  printed,
  registerValue,
  stubLauncher,
} from '../support/gdb';
import { symbol } from '../support/kernels';

// Real gdb (batch mode) against `vmm-gdbstub run`: connecting, registers, memory.

/** up.elf's `pattern`: byte i is (i * 7 + 3) & 0xff. */
const PATTERN = Array.from({ length: 16 }, (_, i) => (i * 7 + 3) & 0xff);

describeEachBackend('gdb', 'gdb connects and reads the guest', (backend) => {
  const startStub = stubLauncher(backend);

  it(
    'with --wait, gdb finds vCPU 0 at the Multiboot entry, and detach lets it boot',
    async () => {
      const stub = await startStub({ kernel: 'up', args: ['--wait'] });
      const gdb = await stub.gdb([
        stub.target,
        'info registers rip rax rbx',
        'x/3xw 0x100000',
        'detach',
      ]);
      expectNoGdbErrors(gdb);
      expect(gdb.stdout).toMatch(/^rip\s+0x100020\s+0x100020 <_start>/m);
      expect(gdb.stdout).toMatch(/^rax\s+0x2badb002\s/m);
      expect(gdb.stdout).toMatch(/^rbx\s+0x90000\s/m);
      expect(gdb.stdout).toMatch(/0x100000.*:\s+0x1badb002\s+0x00010002\s+0xe4514ffc/);
      expect(gdb.stdout).toMatch(/\[Inferior 1 \(Remote target\) detached\]/);
      await stub.cli.waitFor('stdout', /vmm-gdbstub test kernel: up ok\n/, backend.timeoutMs / 2);
    },
    backend.timeoutMs,
  );

  it(
    'attaching to a running guest stops it; info registers and x/16xb show its state',
    async () => {
      const stub = await startStub({ kernel: 'up', ready: /up ok\n/ });
      const gdb = await stub.gdb([
        stub.target,
        'info registers',
        'x/16xb &pattern',
        'print counter',
        'print counter',
        'info threads',
        'detach',
      ]);
      expectNoGdbErrors(gdb);
      // The main loop runs in kmain and the functions it calls, on the boot stack.
      expect(gdb.stdout).toMatch(
        /^rip\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <(kmain|add_numbers|copy_bytes|step_\w+)(\+\d+)?>$/m,
      );
      const rsp = registerValue(gdb.stdout, 'rsp');
      expect(rsp).toBeGreaterThan(symbol('up', 'boot_stack'));
      expect(rsp).toBeLessThan(symbol('up', 'boot_stack_top'));
      // The kernel's GDT selectors (the README's: 0x08 code, 0x10 data).
      expect(registerValue(gdb.stdout, 'cs')).toBe(0x08n);
      for (const seg of ['ss', 'ds', 'es', 'fs', 'gs']) {
        expect(registerValue(gdb.stdout, seg)).toBe(0x10n);
      }
      expect(registerValue(gdb.stdout, 'eflags') & 0x2n).toBe(0x2n);
      // All of gdb's general registers are there (the system ones: gdb_registers).
      for (const name of ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'r8', 'r15', 'cr3']) {
        expect(gdb.stdout).toMatch(new RegExp(`^${name}\\s+0x[0-9a-f]+\\s`, 'm'));
      }

      expect(examinedBytes(gdb.stdout, 'pattern')).toEqual(PATTERN);
      const counters = printed(gdb.stdout);
      expect(counters).toHaveLength(2);
      expect(Number(counters[0])).toBeGreaterThan(0);
      expect(counters[1]).toBe(counters[0]); // stopped while gdb looks
      expect(gdb.stdout).toMatch(/^\* 1\s+Thread 1 /m);
    },
    backend.timeoutMs,
  );
});
