import { setTimeout as sleep } from 'node:timers/promises';
import type { NativeVmm } from '../../lib/vmm/addon';
import { decodeRegisterBuffer } from '../../lib/vmm/native_vmm';
import type { RegisterFile } from '../../lib/vmm/registers';
import { VmmError } from '../../lib/vmm/vmm';
import { bootKernel, type BootedGuest } from '../support/emu_guest';
import { symbol } from '../support/kernels';
import { pause, readU64, runTo, scribbleRegisters, step } from '../support/seam';

// The Vmm seam on the emu backend: what the debugger above it relies on.

type RawRead = { getRegistersRaw(vcpu: number): Buffer };

let guest: BootedGuest | undefined;
afterEach(() => {
  guest?.destroy();
  guest = undefined;
});

describe('registers', () => {
  it('round-trip every register class', () => {
    guest = bootKernel('up', { run: false });
    const regs: RegisterFile = guest.vmm.getRegisters(0);
    scribbleRegisters(regs);

    guest.vmm.setRegisters(0, regs);
    expect(guest.vmm.getRegisters(0)).toEqual(regs);
  });

  it('read the same through the one-Buffer fast path as through the object path', () => {
    guest = bootKernel('up', { run: false });
    const regs = guest.vmm.getRegisters(0);
    regs.r15 = 0xfedcba9876543210n;
    regs.dr7 = 0x400n;
    regs.tr = { selector: 0x40, base: 0x123000n, limit: 0x67, access: 0x8b };
    regs.idtr = { base: 0x8000n, limit: 0xfff };
    regs.fpu.fip = 0x1122334455n;
    regs.fpu.st[7] = Buffer.from('0102030405060708090a', 'hex');
    regs.fpu.xmm[15] = Buffer.alloc(16, 0x5a);
    guest.vmm.setRegisters(0, regs);
    const native = (guest.vmm as unknown as { native: NativeVmm & RawRead }).native;
    expect(decodeRegisterBuffer(native.getRegistersRaw(0))).toEqual(native.getRegisters(0));
    expect(guest.vmm.getRegisters(0)).toEqual(regs);
  });

  it('belong to the caller: editing a read changes nothing until setRegisters', () => {
    guest = bootKernel('up', { run: false });
    const first = guest.vmm.getRegisters(0);
    const rip = first.rip;
    first.rip = 0x1234n;
    first.fpu.xmm[0]!.fill(0xee);
    const again = guest.vmm.getRegisters(0);
    expect(again.rip).toBe(rip);
    expect(again.fpu.xmm[0]!.includes(0xee)).toBe(false);
    guest.vmm.setRegisters(0, first);
    expect(guest.vmm.getRegisters(0).rip).toBe(0x1234n);
  });

  it('are refused while the vCPU runs (EBUSY), and the guest goes on', async () => {
    guest = bootKernel('up');
    await guest.waitForConsole(/up ok/);
    expect(() => guest!.vmm.getRegisters(0)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
  });
});

describe('guest memory', () => {
  it('throws a typed EFAULT outside RAM and the process goes on', () => {
    guest = bootKernel('up', { run: false, memoryBytes: 16 << 20 });
    const ram = 16 << 20;
    for (const [gpa, length] of [
      [ram, 1],
      [ram - 4, 8],
      [0xfee00000, 4],
      [2 ** 52, 1],
    ]) {
      expect(() => guest!.vmm.readPhysical(gpa!, length!)).toThrow(VmmError);
      expect(() => guest!.vmm.readPhysical(gpa!, length!)).toThrow(
        expect.objectContaining({ code: 'EFAULT' }),
      );
      expect(() => guest!.vmm.writePhysical(gpa!, Buffer.alloc(length!))).toThrow(
        expect.objectContaining({ code: 'EFAULT' }),
      );
    }
    expect(guest.vmm.readPhysical(ram - 4, 4)).toHaveLength(4);
  });
});

describe('gla2gpa on the higher-half kernel', () => {
  it('matches the page tables, and an unmapped address is a fault', async () => {
    guest = bootKernel('higher');
    await guest.waitForConsole(/higher ok/);
    await pause(guest);
    const marker = symbol('higher', 'hh_marker');
    expect(marker).toBe(0xffffffff80101000n);
    const gpa = guest.vmm.gla2gpa(0, marker);
    expect(gpa).toBe(0x101000n);
    expect(guest.vmm.readPhysical(Number(gpa), 8).toString('latin1')).toBe('HHMARKER');

    // Walk the guest's own tables from CR3 and compare, page by page.
    const cr3 = guest.vmm.getRegisters(0).cr3 & ~0xfffn;
    const walk = (gla: bigint): bigint | undefined => {
      let table = cr3;
      for (const shift of [39n, 30n, 21n, 12n]) {
        const index = (gla >> shift) & 0x1ffn;
        const entry = readU64(guest!, table + index * 8n);
        if ((entry & 1n) === 0n) return undefined;
        const frame = entry & 0x000ffffffffff000n;
        const large = shift !== 12n && shift !== 39n && (entry & 0x80n) !== 0n;
        if (large) return (frame & ~((1n << shift) - 1n)) | (gla & ((1n << shift) - 1n));
        table = frame;
      }
      return table | (gla & 0xfffn);
    };
    for (const gla of [marker, marker + 0x1234n, 0xffffffff80000000n, 0xffffffffbffff000n]) {
      expect(guest.vmm.gla2gpa(0, gla)).toBe(walk(gla));
    }
    for (const unmapped of [0n, 0x100000n, 0x101000n, 0xffff800000000000n, 0xffffffffc0000000n]) {
      expect(walk(unmapped)).toBeUndefined();
      expect(guest.vmm.gla2gpa(0, unmapped)).toBeUndefined();
    }
  });
});

describe('run control', () => {
  it('pause stops the guest and resume lets it go on', async () => {
    guest = bootKernel('up');
    await guest.waitForConsole(/up ok/);
    const counter = symbol('up', 'counter');
    await pause(guest);
    const frozen = readU64(guest, counter);
    await sleep(50);
    expect(readU64(guest, counter)).toBe(frozen);
    guest.vmm.resume(0);
    await sleep(50);
    expect(readU64(guest, counter)).toBeGreaterThan(frozen);
    await pause(guest);
  });

  it('an int3 stops with rip at the int3', async () => {
    guest = bootKernel('up');
    await guest.waitForConsole(/up ok/);
    await pause(guest);
    const addNumbers = symbol('up', 'add_numbers');
    await runTo(guest, addNumbers);
    expect(guest.vmm.getRegisters(0).rip).toBe(addNumbers);
  });

  it('a step runs exactly one instruction: a call, a ret, a jmp', async () => {
    guest = bootKernel('up');
    await guest.waitForConsole(/up ok/);
    await pause(guest);
    await runTo(guest, symbol('up', 'step_call'));
    const rsp = guest.vmm.getRegisters(0).rsp;
    expect(await step(guest)).toBe(symbol('up', 'step_leaf'));
    expect(guest.vmm.getRegisters(0).rsp).toBe(rsp - 8n);
    expect(await step(guest)).toBe(symbol('up', 'step_leaf') + 5n); // past mov $42,%eax
    expect(await step(guest)).toBe(symbol('up', 'step_jmp')); // ret
    expect(await step(guest)).toBe(symbol('up', 'step_done'));
  });

  it('a step runs one iteration of rep movsb', async () => {
    guest = bootKernel('up');
    await guest.waitForConsole(/up ok/);
    await pause(guest);
    const copyBytes = symbol('up', 'copy_bytes');
    await runTo(guest, copyBytes);
    const repMovsb = await step(guest); // past mov %rdx,%rcx
    expect(guest.vmm.readPhysical(Number(repMovsb), 2)).toEqual(Buffer.from([0xf3, 0xa4]));
    const before = guest.vmm.getRegisters(0);
    expect(await step(guest)).toBe(repMovsb);
    const after = guest.vmm.getRegisters(0);
    expect(after.rcx).toBe(before.rcx - 1n);
    expect(after.rsi).toBe(before.rsi + 1n);
    expect(after.rdi).toBe(before.rdi + 1n);
  });
});

describe('stepping with a timer interrupt pending', () => {
  const inLoop = () => [symbol('timer', 'main_loop'), symbol('timer', 'main_loop_jmp')];

  it('never enters the handler with interrupts masked, and can without', async () => {
    guest = bootKernel('timer');
    await guest.waitForConsole(/timer ok/);
    await pause(guest);
    const handler = symbol('timer', 'timer_handler');
    // Start from the main loop, not from wherever the pause fell (maybe the handler).
    await runTo(guest, symbol('timer', 'main_loop'));
    // Park until the 1 kHz timer has surely fired; step masked many times.
    for (let i = 0; i < 20; i++) {
      await sleep(3);
      const rip = await step(guest, true);
      expect(inLoop()).toContain(rip);
    }
    await sleep(5);
    expect(await step(guest, false)).toBe(handler);
  });
});
