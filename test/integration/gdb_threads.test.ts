import { describeEachBackend } from '../support/backends';
import { expectNoGdbErrors, printed, registerValue, stubLauncher } from '../support/gdb';
import { symbol } from '../support/kernels';
import { disassemble } from '../support/kernels';

// Real gdb (batch mode) on the SMP kernel with 4 vCPUs: one gdb thread per
// vCPU, each with its own registers.
//
// What is per-vCPU: every vCPU ends in `cpu_loop(id)`, a 4-instruction loop,
// so their rips may well be equal (on emu they usually are). What differs is
// the argument (rdi = the APIC id = vCPU number = thread id - 1, which gdb
// also shows as `id=` in the frame) and the stack: the BSP runs on
// `boot_stack`, AP n on `ap_stacks + n * 4096` up to `+ (n + 1) * 4096`.

const CPUS = 4;

/** The stack a vCPU runs cpu_loop on: [low, high). */
function stackOf(vcpu: number): [bigint, bigint] {
  if (vcpu === 0) return [symbol('smp', 'boot_stack'), symbol('smp', 'boot_stack_top')];
  const base = symbol('smp', 'ap_stacks') + BigInt(vcpu) * 4096n;
  return [base, base + 4096n];
}

/** Checks `info registers rip rsp rdi` output as vCPU `vcpu`'s: in cpu_loop, its id, its stack. */
function expectCpuLoopRegisters(text: string, vcpu: number): void {
  const code = disassemble('smp', 'cpu_loop');
  const rip = registerValue(text, 'rip');
  expect(rip).toBeGreaterThanOrEqual(code[0]!.address);
  expect(rip).toBeLessThanOrEqual(code[code.length - 1]!.address);
  expect(text).toMatch(/^rip\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <cpu_loop(\+\d+)?>$/m);
  expect(registerValue(text, 'rdi')).toBe(BigInt(vcpu));
  const [low, high] = stackOf(vcpu);
  const rsp = registerValue(text, 'rsp');
  expect(rsp).toBeGreaterThanOrEqual(low);
  expect(rsp).toBeLessThan(high);
}

/** The four counters a `print counters[0]@4` showed. */
function counters(value: string | undefined): bigint[] {
  const match = /^\{(\d+), (\d+), (\d+), (\d+)\}$/.exec(value ?? '');
  if (match === null) throw new Error(`not four counters: ${value}`);
  return match.slice(1).map((n) => BigInt(n));
}

describeEachBackend('gdb', 'gdb sees one thread per vCPU', (backend) => {
  const startStub = stubLauncher(backend);

  it(
    'info threads lists 4 vCPUs in cpu_loop; thread 2 has its own registers; detach resumes all',
    async () => {
      const stub = await startStub({
        kernel: 'smp',
        args: ['--cpus', String(CPUS), '--cmdline', `cpus=${CPUS}`],
        ready: /vmm-gdbstub test kernel: smp 4 cpus up\n/,
      });
      const gdb = await stub.gdb([
        stub.target,
        'info threads',
        'thread 2',
        'info registers rip rsp rdi',
        'bt',
        'thread apply all info registers rip rsp rdi',
        'print counters[0]@4',
        'detach',
      ]);
      expectNoGdbErrors(gdb);
      const out = gdb.stdout;

      // info threads: threads 1-4 are vCPUs 0-3, each in cpu_loop with its own
      // id. The vCPU is in the thread's name (`Thread 2 "vCPU 1" (parked)`,
      // from qXfer:threads) or its extra info (`Thread 2 (vCPU 1: parked)`).
      // Which one is current is the one the attach stop reported: any.
      const threads = [
        ...out.matchAll(
          /^([* ]) +(\d+) +Thread (\d+) (?:"vCPU (\d+)" \([^)]*\)|\(vCPU (\d+)[^)]*\)) +(?:0x[0-9a-f]+ in )?cpu_loop \(id=(?:id@entry=)?(\d+)\)/gm,
        ),
      ].map((m) => ({
        current: m[1] === '*',
        id: Number(m[2]),
        thread: Number(m[3]),
        vcpu: Number(m[4] ?? m[5]),
        arg: Number(m[6]),
      }));
      expect(threads.map(({ current: _, ...thread }) => thread)).toEqual(
        [1, 2, 3, 4].map((id) => ({ id, thread: id, vcpu: id - 1, arg: id - 1 })),
      );
      expect(threads.filter((t) => t.current)).toHaveLength(1);

      // thread 2, then its registers and its backtrace: an AP's.
      const [, afterSwitch] = out.split(/^\[Switching to thread 2 \(Thread 2\)\]$/m);
      expect(afterSwitch).toBeDefined();
      expect(afterSwitch).toMatch(/^#0 +(0x[0-9a-f]+ in )?cpu_loop \(id=(id@entry=)?1\)/m);
      const [ownRegisters] = afterSwitch!.split(/^Thread \d+ \(/m);
      expectCpuLoopRegisters(ownRegisters!, 1);
      expect(ownRegisters).toMatch(/^#1 +0x[0-9a-f]+ in ap_main \(id=1\)/m);
      expect(ownRegisters).toMatch(/^#2 +0x[0-9a-f]+ in ap_entry64 \(\)/m);

      // thread apply all: every vCPU's registers are its own.
      const blocks = [...out.matchAll(/^Thread (\d+) \(Thread \d+ .*\):\n((?:.+\n)+)/gm)];
      expect(blocks.map((m) => Number(m[1])).sort()).toEqual([1, 2, 3, 4]);
      for (const [, thread, text] of blocks) expectCpuLoopRegisters(text!, Number(thread) - 1);
      const stacks = blocks.map(([, , text]) => registerValue(text!, 'rsp'));
      expect(new Set(stacks).size).toBe(CPUS);

      // Detached, every vCPU counts on: attach again and compare.
      const before = counters(printed(out)[0]);
      before.forEach((count) => expect(count).toBeGreaterThan(0n));
      expect(out).toMatch(/^\[Inferior 1 \(Remote target\) detached\]$/m);
      let after = before;
      for (let attempt = 0; attempt < 20 && after.some((c, i) => c <= before[i]!); attempt++) {
        const again = await stub.gdb([stub.target, 'print counters[0]@4', 'detach']);
        expectNoGdbErrors(again);
        after = counters(printed(again.stdout)[0]);
      }
      after.forEach((count, i) => expect(count).toBeGreaterThan(before[i]!));
    },
    backend.timeoutMs,
  );

  it(
    'a breakpoint for thread 3 stops there with vCPU 2 current, and stepi steps vCPU 2',
    async () => {
      const stub = await startStub({
        kernel: 'smp',
        args: ['--cpus', String(CPUS), '--cmdline', `cpus=${CPUS}`],
        ready: /vmm-gdbstub test kernel: smp 4 cpus up\n/,
      });
      // The loop's first instruction, which every vCPU runs: the other vCPUs
      // stop there too, and gdb reads their registers to resume them past it.
      const [, top, next] = disassemble('smp', 'cpu_loop');
      const gdb = await stub.gdb([
        stub.target,
        `break *0x${top!.address.toString(16)} thread 3`,
        'continue',
        'thread',
        'info registers rip rsp rdi',
        'stepi',
        'print/x $pc',
        'thread',
        'delete',
        'detach',
      ]);
      expectNoGdbErrors(gdb);
      const out = gdb.stdout;
      expect(out).toMatch(
        /^Thread 3 (?:"vCPU 2" )?hit Breakpoint 1, cpu_loop \(id=(id@entry=)?2\)/m,
      );
      const [, stopped, stepped] = out.split(/^\[Current thread is 3 \(Thread 3[^\]]*\]$/m);
      expect(stepped).toBeDefined();
      expectCpuLoopRegisters(stopped!, 2);
      expect(registerValue(stopped!, 'rip')).toBe(top!.address);
      expect(printed(out)).toEqual([`0x${next!.address.toString(16)}`]);
      expect(out).toMatch(/^\[Inferior 1 \(Remote target\) detached\]$/m);
    },
    backend.timeoutMs,
  );
});
