import * as fs from 'node:fs';
import * as os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RegisterFile } from '../../lib/vmm/registers';
import { VmmError } from '../../lib/vmm/vmm';
import { describeEachBackend } from '../support/backends';
import { bootKernel, type BootedGuest } from '../support/emu_guest';
import { BOOT_LINES, disassemble, symbol } from '../support/kernels';
import { bootImage, tripleFaultImage, type ImageGuest } from '../support/guest_images';
import { pause, readU64, runTo, scribbleRegisters, step } from '../support/seam';

// The Vmm seam on every backend: emu always, kvm where /dev/kvm opens and
// the core addon carries it (otherwise one SKIP line). What the debugger
// above the seam relies on.

// PVM emulates guest kernel code (about a million instructions a second):
// boots are slow there, so waits are generous. Nothing here asserts timing.
const BOOT_MS = 60000;
// PVM's speed follows the host's load (guest code is emulated there), and a
// test kernel's own waits are spin loops: one retry, its failure printed.
jest.retryTimes(1, { logErrorsBeforeRetry: true });

let guest: BootedGuest | undefined;
let imageGuest: ImageGuest | undefined;
afterEach(() => {
  guest?.destroy();
  guest = undefined;
  imageGuest?.vmm.destroy();
  imageGuest = undefined;
});

describeEachBackend('seam', 'the Vmm seam', (backend) => {
  jest.setTimeout(backend.timeoutMs);
  const isKvm = backend.name === 'kvm';

  function boot(...args: Parameters<typeof bootKernel>): BootedGuest {
    guest = bootKernel(args[0], { ...args[1], backend: backend.name });
    return guest;
  }

  /** smp.elf on 4 vCPUs, once every vCPU counts in cpu_loop; and a reader of its counter. */
  async function bootSpinningSmp() {
    const g = boot('smp', { cpus: 4, cmdline: 'cpus=4' });
    await g.waitForConsole(/smp 4 cpus up\n/, BOOT_MS);
    const counters = symbol('smp', 'counters');
    const counterOf = (v: number) => readU64(g, counters + BigInt(8 * v));
    // "cpus up" is printed when every AP has arrived, which can be before
    // it enters cpu_loop: wait until each one counts.
    for (let i = 0; i < 3000 && [0, 1, 2, 3].some((v) => counterOf(v) === 0n); i++) {
      await sleep(10);
    }
    return { g, counterOf };
  }

  describe('boots each test kernel to its COM1 line', () => {
    it.each(BOOT_LINES)('%s', async (name, line) => {
      const g = boot(name);
      await g.waitForConsole(line, BOOT_MS);
      expect(g.console()).not.toMatch(/exception|bad multiboot magic/);
    });

    it('smp: every AP starts through INIT/SIPI', async () => {
      const g = boot('smp', { cpus: 4, cmdline: 'cpus=4' });
      const started: number[] = [];
      g.vmm.on('started', (vcpu) => started.push(vcpu));
      await g.waitForConsole(/vmm-gdbstub test kernel: smp 4 cpus up\n/, BOOT_MS);
      expect(started.sort()).toEqual([1, 2, 3]);
      for (let v = 0; v < 4; v++) expect(g.vmm.vcpuState(v)).toBe('running');
    });

    it('an AP that got no SIPI waits, and its registers read as the reset state', async () => {
      const g = boot('smp', { cpus: 3, cmdline: 'cpus=2' });
      await g.waitForConsole(/smp 2 cpus up\n/, BOOT_MS);
      expect(g.vmm.vcpuState(1)).toBe('running');
      expect(g.vmm.vcpuState(2)).toBe('waiting-for-sipi');
      expect(g.vmm.pause(2)).toBe(false);
      const regs = g.vmm.getRegisters(2);
      expect(regs.rip).toBe(0xfff0n);
      expect(regs.cs).toMatchObject({ selector: 0xf000, base: 0xffff0000n });
      expect(regs.cr0 & 1n).toBe(0n);
      if (isKvm) {
        // KVM owns a waiting AP's state until its SIPI.
        expect(() => g.vmm.setRegisters(2, regs)).toThrow(
          expect.objectContaining({ code: 'EBUSY' }),
        );
      }
    });
  });

  describe('registers', () => {
    it('round-trip every register class', () => {
      const g = boot('up', { run: false });
      const regs: RegisterFile = g.vmm.getRegisters(0);
      scribbleRegisters(regs);
      regs.fpu.fsw = 0;
      // KVM keeps FXSAVE's abridged tags; the full word follows from the
      // contents: ST0 (physical register 0 with TOP = 0) valid, the rest empty.
      regs.fpu.ftw = 0xfffc;

      g.vmm.setRegisters(0, regs);
      expect(g.vmm.getRegisters(0)).toEqual(regs);
    });

    it('derive the full x87 tag word from the register contents', () => {
      const g = boot('up', { run: false });
      const regs = g.vmm.getRegisters(0);
      regs.fpu.fsw = 6 << 11; // TOP = 6: ST0 is physical register 6, ST1 is 7, ST2 is 0
      regs.fpu.st[0] = Buffer.from('00000000000000803fff', 'hex'); // 1.0: valid
      regs.fpu.st[1] = Buffer.alloc(10); // +0: zero
      regs.fpu.st[2] = Buffer.from('0000000000000080ff7f', 'hex'); // +inf: special
      // physical 6 valid (00), 7 zero (01), 0 special (10); 1-5 empty (11)
      regs.fpu.ftw = 0b01_00_11_11_11_11_11_10;
      g.vmm.setRegisters(0, regs);
      expect(g.vmm.getRegisters(0).fpu.ftw).toBe(0b01_00_11_11_11_11_11_10);
    });

    it('are refused while the vCPU runs (EBUSY), and the guest goes on', async () => {
      const g = boot('up');
      await g.waitForConsole(/up ok/, BOOT_MS);
      expect(() => g.vmm.getRegisters(0)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    });
  });

  describe('guest memory', () => {
    it('throws a typed EFAULT outside RAM and the process goes on', () => {
      const g = boot('up', { run: false, memoryBytes: 16 << 20 });
      const ram = 16 << 20;
      for (const [gpa, length] of [
        [ram, 1],
        [ram - 4, 8],
        [0xfee00000, 4],
        [2 ** 52, 1],
      ]) {
        expect(() => g.vmm.readPhysical(gpa!, length!)).toThrow(VmmError);
        expect(() => g.vmm.writePhysical(gpa!, Buffer.alloc(length!))).toThrow(
          expect.objectContaining({ code: 'EFAULT' }),
        );
      }
      expect(g.vmm.readPhysical(ram - 4, 4)).toHaveLength(4);
    });

    it('reads into a caller buffer what readPhysical returns, and bounds both ends', () => {
      const g = boot('up', { run: false, memoryBytes: 16 << 20 });
      const ram = 16 << 20;
      const pattern = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7 + 1) & 0xff));
      g.vmm.writePhysical(0x200000, pattern);
      const target = Buffer.alloc(310, 0xee);
      g.vmm.readPhysicalInto(0x200000, 300, target, 5);
      expect(target.subarray(5, 305)).toEqual(pattern);
      expect(target.subarray(0, 5)).toEqual(Buffer.alloc(5, 0xee));
      expect(target.subarray(305)).toEqual(Buffer.alloc(5, 0xee));
      expect(g.vmm.readPhysical(0x200000, 300)).toEqual(pattern);
      // Past the target's end: a RangeError, nothing written.
      const small = Buffer.alloc(8, 0xee);
      expect(() => g.vmm.readPhysicalInto(0x200000, 8, small, 1)).toThrow(/runs past the end/);
      expect(() => g.vmm.readPhysicalInto(0x200000, 1, small, 9)).toThrow(/runs past the end/);
      expect(small).toEqual(Buffer.alloc(8, 0xee));
      // Outside RAM: EFAULT, as readPhysical.
      expect(() => g.vmm.readPhysicalInto(ram - 4, 8, Buffer.alloc(8), 0)).toThrow(
        expect.objectContaining({ code: 'EFAULT' }),
      );
    });
  });

  describe('gla2gpa on the higher-half kernel', () => {
    it('matches the page tables, and an unmapped address is a fault', async () => {
      const g = boot('higher');
      await g.waitForConsole(/higher ok/, BOOT_MS);
      await pause(g);
      const marker = symbol('higher', 'hh_marker');
      const gpa = g.vmm.gla2gpa(0, marker);
      expect(gpa).toBe(0x101000n);
      expect(g.vmm.readPhysical(Number(gpa), 8).toString('latin1')).toBe('HHMARKER');
      expect(g.vmm.gla2gpa(0, marker + 0x1234n, 2)).toBe(0x102234n);
      for (const unmapped of [0n, 0x100000n, 0xffff800000000000n, 0xffffffffc0000000n]) {
        expect(g.vmm.gla2gpa(0, unmapped)).toBeUndefined();
      }
      expect(g.vmm.gla2gpa(0, 0x0000800000000000n)).toBeUndefined(); // not canonical
    });
  });

  describe('run control', () => {
    it('pause stops the guest and resume lets it go on', async () => {
      const g = boot('up');
      await g.waitForConsole(/up ok/, BOOT_MS);
      const counter = symbol('up', 'counter');
      await pause(g);
      const frozen = readU64(g, counter);
      await sleep(50);
      expect(readU64(g, counter)).toBe(frozen);
      g.vmm.resume(0);
      for (let i = 0; i < 200 && readU64(g, counter) === frozen; i++) await sleep(10);
      expect(readU64(g, counter)).toBeGreaterThan(frozen);
      await pause(g);
    });

    it('an int3 stops with rip at the int3', async () => {
      const g = boot('up');
      await g.waitForConsole(/up ok/, BOOT_MS);
      await pause(g);
      const addNumbers = symbol('up', 'add_numbers');
      await runTo(g, addNumbers, BOOT_MS);
      expect(g.vmm.getRegisters(0).rip).toBe(addNumbers);
      // Twice: the backend's state after a breakpoint lets the guest go on.
      g.vmm.resume(0, { step: true, maskInterrupts: true });
      await g.nextStop();
      await runTo(g, addNumbers, BOOT_MS);
    });

    it('a step runs exactly one instruction: a call, a ret, a jmp', async () => {
      const g = boot('up');
      await g.waitForConsole(/up ok/, BOOT_MS);
      await pause(g);
      await runTo(g, symbol('up', 'step_call'), BOOT_MS);
      const rsp = g.vmm.getRegisters(0).rsp;
      expect(await step(g)).toBe(symbol('up', 'step_leaf'));
      expect(g.vmm.getRegisters(0).rsp).toBe(rsp - 8n);
      expect(await step(g)).toBe(symbol('up', 'step_leaf') + 5n); // past mov $42,%eax
      expect(await step(g)).toBe(symbol('up', 'step_jmp')); // ret
      expect(await step(g)).toBe(symbol('up', 'step_done'));
    });

    it('a step runs one iteration of rep movsb', async () => {
      const g = boot('up');
      await g.waitForConsole(/up ok/, BOOT_MS);
      await pause(g);
      await runTo(g, symbol('up', 'copy_bytes'), BOOT_MS);
      const repMovsb = await step(g); // past mov %rdx,%rcx
      expect(g.vmm.readPhysical(Number(repMovsb), 2)).toEqual(Buffer.from([0xf3, 0xa4]));
      const before = g.vmm.getRegisters(0);
      expect(await step(g)).toBe(repMovsb);
      const after = g.vmm.getRegisters(0);
      expect(after.rcx).toBe(before.rcx - 1n);
      expect(after.rsi).toBe(before.rsi + 1n);
      expect(after.rdi).toBe(before.rdi + 1n);
    });

    it('steps an in and an out exactly, and the step after the out too', async () => {
      const g = boot('up');
      await g.waitForConsole(/up ok/, BOOT_MS);
      await pause(g);
      const code = disassemble('up', 'serial_putc');
      const inAt = code.find((i) => i.text.startsWith('in '))!.address;
      const outIndex = code.findIndex((i) => i.text.startsWith('out '));
      const outAt = code[outIndex]!.address;
      const afterOut = code[outIndex + 1]!;
      expect(afterOut.text).toBe('ret');
      // Make the kernel print: it prints test_var whenever it changes.
      g.vmm.writePhysical(Number(symbol('up', 'test_var')), Buffer.from('2a00000000000000', 'hex'));

      await runTo(g, inAt, BOOT_MS);
      expect(await step(g)).toBe(inAt + 1n); // in (%dx),%al
      expect(g.vmm.getRegisters(0).rax & 0xffn).toBe(0x60n); // LSR: transmitter empty

      await runTo(g, outAt, BOOT_MS);
      const before = g.vmm.getRegisters(0);
      expect(await step(g)).toBe(afterOut.address); // the out
      expect(g.vmm.getRegisters(0).rax).toBe(before.rax);
      const returnAddress = readU64(g, g.vmm.getRegisters(0).rsp);
      expect(await step(g)).toBe(returnAddress); // the ret, and nothing more
      g.vmm.resume(0);
      await g.waitForConsole(/test_var=42\n/, BOOT_MS);
    });
  });

  describe('smp', () => {
    it('pauses every vCPU while they spin, and resumes them', async () => {
      const { g, counterOf } = await bootSpinningSmp();
      for (let round = 0; round < 2; round++) {
        const stops = new Map<number, string>();
        const allStopped = new Promise<void>((resolve) => {
          const onStop = (stop: { vcpu: number; reason: string }) => {
            stops.set(stop.vcpu, stop.reason);
            if (stops.size === 4) {
              g.vmm.off('stop', onStop);
              resolve();
            }
          };
          g.vmm.on('stop', onStop);
        });
        for (let v = 0; v < 4; v++) expect(g.vmm.pause(v)).toBe(true);
        await allStopped;
        expect([...stops.values()]).toEqual(['paused', 'paused', 'paused', 'paused']);
        const frozen = [0, 1, 2, 3].map(counterOf);
        await sleep(30);
        expect([0, 1, 2, 3].map(counterOf)).toEqual(frozen);
        for (let v = 0; v < 4; v++) {
          const rip = g.vmm.getRegisters(v).rip;
          expect(rip).toBeGreaterThanOrEqual(symbol('smp', 'cpu_loop'));
        }
        for (let v = 0; v < 4; v++) g.vmm.resume(v);
        for (let i = 0; i < 500; i++) {
          if ([0, 1, 2, 3].every((v) => counterOf(v) > frozen[v]!)) break;
          await sleep(10);
        }
        for (let v = 0; v < 4; v++) expect(counterOf(v)).toBeGreaterThan(frozen[v]!);
      }
    });
  });

  describe('vCPU priority', () => {
    /** Scheduling policies of this process's threads (field 41 of /proc's stat: 5 is SCHED_IDLE). */
    const policies = () =>
      fs.readdirSync('/proc/self/task').map((tid) => {
        const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
      });
    const SCHED_IDLE = 5;

    it("'idle' puts every vCPU thread at idle priority, and the guest still runs", async () => {
      const before = policies().filter((p) => p === SCHED_IDLE).length;
      const g = boot('smp', { cpus: 2, cmdline: 'cpus=2', vcpuPriority: 'idle' });
      await g.waitForConsole(/smp 2 cpus up\n/, BOOT_MS);
      // Both vCPU threads, and what they started (emu's ticker, KVM's own
      // kernel worker) with them; this, the JS thread, stays as it was.
      expect(policies().filter((p) => p === SCHED_IDLE).length - before).toBeGreaterThanOrEqual(2);
      const own = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'latin1');
      expect(Number(own.slice(own.lastIndexOf(')') + 2).split(' ')[38])).not.toBe(SCHED_IDLE);
    });

    it("'normal' leaves them alone", async () => {
      const before = policies().filter((p) => p === SCHED_IDLE).length;
      const g = boot('up');
      await g.waitForConsole(/up ok/, BOOT_MS);
      expect(policies().filter((p) => p === SCHED_IDLE).length).toBe(before);
    });
  });

  describe('scheduler slices', () => {
    /** A thread's slice in ns, from /proc's sched file (Linux 6.6+); undefined without one. */
    const sliceOf = (tid: string | number) => {
      const sched = fs.readFileSync(`/proc/self/task/${tid}/sched`, 'latin1');
      const match = /^se\.slice\s+:\s+(\d+)/m.exec(sched);
      return match ? Number(match[1]) : undefined;
    };
    const [major = 0, minor = 0] = os.release().split('.').map(Number);
    const customSlices = major > 6 || (major === 6 && minor >= 12);

    it('the JS thread asks for a short slice; the named vCPU threads keep the default', async () => {
      if (!customSlices || sliceOf(process.pid) === undefined) {
        console.log(`SKIP scheduler slices: Linux ${os.release()} has no custom slices (6.12+)`);
        return;
      }
      const g = boot('smp', { cpus: 2, cmdline: 'cpus=2' });
      await g.waitForConsole(/smp 2 cpus up\n/, BOOT_MS);
      expect(sliceOf(process.pid)).toBe(100000);
      const vcpuThreads = fs
        .readdirSync('/proc/self/task')
        .filter((tid) =>
          /^vcpu \d+$/.test(fs.readFileSync(`/proc/self/task/${tid}/comm`, 'latin1').trim()),
        );
      expect(vcpuThreads.length).toBeGreaterThanOrEqual(2);
      for (const tid of vcpuThreads) expect(sliceOf(tid)).toBeGreaterThan(100000);
    });
  });

  describe('waiting for stops', () => {
    it('waitForStop reports a step that finishes within the wait before it returns', async () => {
      const g = boot('up');
      await g.waitForConsole(/up ok/, BOOT_MS);
      await pause(g);
      const stops: string[] = [];
      g.vmm.on('stop', (stop) => stops.push(stop.reason));
      for (let i = 0; i < 5; i++) {
        g.vmm.resume(0, { step: true, maskInterrupts: true });
        g.vmm.waitForStop(10000);
        expect(stops).toEqual(['step']);
        expect(g.vmm.vcpuState(0)).toBe('parked');
        stops.length = 0;
      }
      // Nothing runs: it waits the whole time and reports nothing.
      g.vmm.waitForStop(20);
      expect(stops).toEqual([]);
    });

    it('reports the stops of every vCPU that parks within the wait before it returns, the rest later', async () => {
      const { g, counterOf } = await bootSpinningSmp();
      const stops = new Map<number, string>();
      g.vmm.on('stop', (stop) => stops.set(stop.vcpu, stop.reason));
      // A generous wait: every vCPU parks within it, so all four report inside the call.
      g.vmm.pauseAll(10000);
      expect([...stops.entries()].sort()).toEqual([
        [0, 'paused'],
        [1, 'paused'],
        [2, 'paused'],
        [3, 'paused'],
      ]);
      for (let v = 0; v < 4; v++) expect(g.vmm.vcpuState(v)).toBe('parked');
      const frozen = [0, 1, 2, 3].map(counterOf);
      await sleep(30);
      expect([0, 1, 2, 3].map(counterOf)).toEqual(frozen);
      g.vmm.pauseAll(10000); // nothing runs: returns at once, reports nothing
      expect(stops.size).toBe(4);

      // No wait: whatever did not park inside the call reports as usual.
      stops.clear();
      for (let v = 0; v < 4; v++) g.vmm.resume(v);
      g.vmm.pauseAll(0);
      for (let i = 0; i < 500 && stops.size < 4; i++) await sleep(10);
      expect([...stops.values()]).toEqual(['paused', 'paused', 'paused', 'paused']);
      for (let v = 0; v < 4; v++) expect(g.vmm.vcpuState(v)).toBe('parked');
    });
  });

  describe('stepping with a timer interrupt pending', () => {
    it('never enters the handler with interrupts masked, and can without', async () => {
      const g = boot('timer');
      await g.waitForConsole(/timer ok\n/, BOOT_MS);
      await pause(g);
      const handler = symbol('timer', 'timer_handler');
      const inLoop = [symbol('timer', 'main_loop'), symbol('timer', 'main_loop_jmp')];
      await runTo(g, inLoop[0]!, BOOT_MS);
      let rip = g.vmm.getRegisters(0).rip;
      for (let i = 0; i < 20; i++) {
        await sleep(3);
        rip = await step(g, true);
        expect(rip).not.toBe(handler);
      }
      expect(inLoop).toContain(rip);
      // Unmasked, a pending tick is taken: some step lands in the handler (on
      // PVM after the handler's first instruction: see docs/kvm.md).
      const handlerCode = disassemble('timer', 'timer_handler');
      const handlerEnd = handlerCode[handlerCode.length - 1]!.address;
      let entered = false;
      for (let i = 0; i < 20 && !entered; i++) {
        await sleep(5);
        const at = await step(g, false);
        entered = at >= handler && at <= handlerEnd;
      }
      expect(entered).toBe(true);
    });
  });

  describe('a guest that triple-faults', () => {
    it('stops with reason shutdown, and its registers stay readable', async () => {
      imageGuest = bootImage(tripleFaultImage(), backend.name);
      const stop = await imageGuest.nextStop(BOOT_MS);
      expect(stop.reason).toBe('shutdown');
      expect(stop.message).toMatch(/triple fault/);
      const regs = imageGuest.vmm.getRegisters(0);
      expect(regs.idtr).toEqual({ base: 0n, limit: 0 });
    });
  });
});
