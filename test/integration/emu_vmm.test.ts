import type { NativeVmm } from '../../lib/vmm/addon';
import { decodeRegisterBuffer } from '../../lib/vmm/native_vmm';
import { bootKernel, type BootedGuest } from '../support/emu_guest';
import { symbol } from '../support/kernels';
import { pause, readU64 } from '../support/seam';

// What only the emu backend shows through the seam: the register fast path
// against the object path, and gla2gpa against our own walk of the guest's
// page tables. test/integration/backend_seam.test.ts covers the rest.

type RawRead = { getRegistersRaw(vcpu: number): Buffer };

let guest: BootedGuest | undefined;
afterEach(() => {
  guest?.destroy();
  guest = undefined;
});

describe('registers', () => {
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
});

describe('gla2gpa on the higher-half kernel', () => {
  it('matches our own walk of the page tables, and an unmapped address is a fault', async () => {
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

describe('range stepping through the seam', () => {
  it('refuses a bad range with a clear error and leaves the vCPU parked; a good one stops outside it', async () => {
    guest = bootKernel('up', { run: false });
    const native = (guest.vmm as unknown as { native: NativeVmm }).native;
    const rip = guest.vmm.getRegisters(0).rip;
    const step = { step: true, maskInterrupts: true };
    // By message: the addon's errors come from another realm than jest's.
    expect(() => native.resume(0, { ...step, rangeStart: rip + 8n, rangeEnd: rip })).toThrow(
      /the step range is not/,
    );
    expect(() => native.resume(0, { ...step, rangeStart: 2n ** 64n, rangeEnd: 2n ** 64n })).toThrow(
      /the step range is not/,
    );
    expect(() =>
      native.resume(0, { step: false, maskInterrupts: false, rangeStart: 0n, rangeEnd: 1n }),
    ).toThrow(/a step range needs "step"/);
    expect(() =>
      native.resume(0, { ...step, rangeStart: 1 as unknown as bigint, rangeEnd: 2n }),
    ).toThrow(/are not bigints/);
    expect(guest.vmm.vcpuState(0)).toBe('parked');
    const stopped = guest.nextStop();
    guest.vmm.resume(0, { ...step, range: { start: rip, end: rip + 0x10n } });
    const stop = await stopped;
    expect(stop.reason).toBe('step');
    expect(stop.rip >= rip && stop.rip < rip + 0x10n).toBe(false);
  });
});

describe('a continue started on the calling thread (ResumeOptions.startHere)', () => {
  const ADD_NUMBERS = symbol('up', 'add_numbers');
  const COUNTER = symbol('up', 'counter');

  async function stoppedAfterBanner(): Promise<BootedGuest> {
    const g = bootKernel('up');
    guest = g;
    await g.waitForConsole(/up ok\n/);
    await pause(g);
    return g;
  }

  it('stops at each hit of a breakpoint as a continue on the vCPU thread does', async () => {
    const g = await stoppedAfterBanner();
    const gpa = Number(g.vmm.gla2gpa(0, ADD_NUMBERS));
    const original = g.vmm.readPhysical(gpa, 1);
    g.vmm.setBreakpointExits(true);
    g.vmm.writePhysical(gpa, Buffer.from([0xcc]));
    const passes: bigint[] = [];
    for (let i = 0; i < 100; i++) {
      const stopped = g.nextStop();
      g.vmm.resume(0, { startHere: true });
      await expect(stopped).resolves.toMatchObject({
        vcpu: 0,
        reason: 'breakpoint',
        rip: ADD_NUMBERS,
      });
      expect(g.vmm.vcpuState(0)).toBe('parked');
      passes.push(g.vmm.getRegisters(0).rsi); // add_numbers' b: the pass number
      // Over the int3: the original byte for one step, then the 0xCC again.
      g.vmm.writePhysical(gpa, original);
      const stepped = g.nextStop();
      g.vmm.resume(0, { step: true, maskInterrupts: true });
      await expect(stepped).resolves.toMatchObject({ reason: 'step' });
      g.vmm.writePhysical(gpa, Buffer.from([0xcc]));
    }
    for (let i = 1; i < passes.length; i++) expect(passes[i]! - passes[i - 1]!).toBe(1n);
  });

  it('goes on on the vCPU thread when it does not stop within its budget, and pauses as usual', async () => {
    const g = await stoppedAfterBanner();
    const counterGpa = Number(g.vmm.gla2gpa(0, COUNTER));
    g.vmm.resume(0, { startHere: true });
    // Nothing in this guest stops it: it runs on after the call returns.
    expect(g.vmm.vcpuState(0)).toBe('running');
    const before = g.vmm.readPhysical(counterGpa, 8).readBigUInt64LE();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(g.vmm.readPhysical(counterGpa, 8).readBigUInt64LE()).toBeGreaterThan(before);
    await pause(g);
    expect(g.vmm.vcpuState(0)).toBe('parked');
  });
});
