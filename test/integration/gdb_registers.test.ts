import { describeEachBackend } from '../support/backends';
import { expectNoGdbErrors, registerValue as register, stubLauncher } from '../support/gdb';
import { symbol } from '../support/kernels';

// Real gdb reads and writes every kind of register through the target description.

describeEachBackend('gdb', 'gdb registers', (backend) => {
  const startStub = stubLauncher(backend);

  it(
    'at the Multiboot entry (--wait): rip, rax, eflags, cs, fs_base, cr0, xmm0, mxcsr',
    async () => {
      const stub = await startStub({ kernel: 'up', args: ['--wait'] });
      const gdb = await stub.gdb([
        stub.target,
        'info registers rip rax eflags cs fs_base gs_base k_gs_base cr0 efer',
        'info registers xmm0',
        'p $xmm0',
        'info registers mxcsr fctrl',
        'detach',
      ]);
      expectNoGdbErrors(gdb);
      expect(gdb.stdout).toMatch(/^rip\s+0x100020\s+0x100020 <_start>/m);
      expect(gdb.stdout).toMatch(/^rax\s+0x2badb002\s/m);
      expect(register(gdb.stdout, 'eflags') & 0x2n).toBe(0x2n); // bit 1 always reads as one
      expect(gdb.stdout).toMatch(/^eflags\s+0x[0-9a-f]+\s+\[.*\]/m); // shown with its flags type
      expect(gdb.stdout).toMatch(/^cs\s+0x[0-9a-f]+\s/m);
      expect(register(gdb.stdout, 'fs_base')).toBe(0n);
      expect(register(gdb.stdout, 'k_gs_base')).toBe(0n);
      expect(gdb.stdout).toMatch(/^cr0\s+0x11\s+\[ PE ET \]/m);
      expect(gdb.stdout).toMatch(/^efer\s+0x0\s/m);
      expect(gdb.stdout).toMatch(/^xmm0\s+\{v4_float = .*uint128 = 0x0\}/m);
      expect(gdb.stdout).toMatch(/^\$1 = \{v4_float = .*v4_int32 = \{0, 0, 0, 0\}.*uint128 = 0\}/m);
      expect(gdb.stdout).toMatch(/^mxcsr\s+0x1f80\s+\[ IM DM ZM OM UM PM \]/m);
      await stub.cli.waitFor('stdout', /vmm-gdbstub test kernel: up ok\n/, backend.timeoutMs / 2);
    },
    backend.timeoutMs,
  );

  it(
    'in long mode: cr0 has PG, efer has LME and LMA, cr3 and k_gs_base read',
    async () => {
      const stub = await startStub({ kernel: 'up', ready: /up ok\n/ });
      const gdb = await stub.gdb([
        stub.target,
        'info registers cr0 cr2 cr3 cr4 cr8 efer k_gs_base fs_base gs_base cs',
        'detach',
      ]);
      expectNoGdbErrors(gdb);
      expect(register(gdb.stdout, 'cr0') & 0x80000001n).toBe(0x80000001n);
      expect(gdb.stdout).toMatch(/^cr0\s+0x[0-9a-f]+\s+\[.*\bPG\b.*\]/m);
      expect(register(gdb.stdout, 'efer') & 0x500n).toBe(0x500n);
      expect(gdb.stdout).toMatch(/^efer\s+0x[0-9a-f]+\s+\[.*\bLME\b.*\bLMA\b.*\]/m);
      expect(register(gdb.stdout, 'cr3')).toBe(symbol('up', 'boot_pml4')); // the README's CR3
      expect(register(gdb.stdout, 'cr4') & 0x20n).toBe(0x20n); // PAE, required for long mode
      expect(gdb.stdout).toMatch(/^cr4\s+0x[0-9a-f]+\s+\[.*\bPAE\b.*\]/m);
      expect(register(gdb.stdout, 'k_gs_base')).toBe(0n); // the kernel never sets it
      expect(register(gdb.stdout, 'cs')).toBe(0x08n); // the GDT's 64-bit code segment
    },
    backend.timeoutMs,
  );

  it(
    'writes registers: gdb reads back rax, r12, xmm1, fs_base and cr8 from the stub',
    async () => {
      const stub = await startStub({ kernel: 'up', ready: /up ok\n/ });
      const gdb = await stub.gdb([
        stub.target,
        'set $old_rax = $rax',
        'set $old_r12 = $r12',
        'set $old_fs_base = $fs_base',
        'set $rax = 0x1234',
        'set $r12 = 0x1122334455667788',
        'set $xmm1.v4_int32[2] = 0x5a5a',
        'set $fs_base = 0xffff800000002000',
        'set $cr8 = 0x3',
        // Forget what gdb cached, so that every value below comes from the stub.
        'maintenance flush register-cache',
        'p/x $rax',
        'p/x $r12',
        'p/x $xmm1.v4_int32[2]',
        'p/x $fs_base',
        'p/x $cr8',
        'set $rax = $old_rax',
        'set $r12 = $old_r12',
        'set $fs_base = $old_fs_base',
        'set $cr8 = 0',
        'detach',
      ]);
      expectNoGdbErrors(gdb);
      const printed = [...gdb.stdout.matchAll(/^\$\d+ = (0x[0-9a-f]+)$/gm)].map((m) => m[1]);
      expect(printed).toEqual([
        '0x1234',
        '0x1122334455667788',
        '0x5a5a',
        '0xffff800000002000',
        '0x3',
      ]);
    },
    backend.timeoutMs,
  );
});
