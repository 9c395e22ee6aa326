import { Debugger } from '../../../lib/debugger/debugger';
import { MockVmm } from '../../../lib/vmm/mock_vmm';

function setup(vcpus = 1) {
  const vmm = new MockVmm({ vcpus, memoryBytes: 0x10000 });
  for (let i = 0; i < vmm.ram.length; i++) vmm.ram[i] = (i * 13 + 1) & 0x7f; // no 0xCC anywhere
  const original = Buffer.from(vmm.ram);
  return { vmm, dbg: new Debugger(vmm), original };
}

function at(vmm: MockVmm, vcpu: number, rip: bigint) {
  const regs = vmm.getRegisters(vcpu);
  regs.rip = rip;
  vmm.setRegisters(vcpu, regs);
}

describe('software breakpoints', () => {
  it('plant 0xCC, hide it from reads and turn breakpoint exits on while any exists', () => {
    const { vmm, dbg, original } = setup();
    expect(dbg.insertBreakpoint(0, 0x100n)).toBe(true);
    expect(vmm.ram[0x100]).toBe(0xcc);
    expect(vmm.breakpointExitsOn).toBe(true);
    expect(dbg.readMemory(0, 0xfen, 4)).toEqual(original.subarray(0xfe, 0x102));
    expect(dbg.insertBreakpoint(0, 0x100n)).toBe(true); // idempotent
    expect(dbg.breakpoints.size).toBe(1);
    expect(dbg.removeBreakpoint(0, 0x100n)).toBe(true);
    expect(vmm.ram.equals(original)).toBe(true);
    expect(vmm.breakpointExitsOn).toBe(false);
  });

  it('stay hidden from a read into a caller buffer, which gets the readable prefix', () => {
    const { vmm, dbg, original } = setup();
    dbg.insertBreakpoint(0, 0x1001n);
    dbg.insertBreakpoint(0, 0xfffen);
    expect(vmm.ram[0x1001]).toBe(0xcc);
    const into = Buffer.alloc(0x2000, 0xee);
    const read = dbg.readMemory(0, 0xff0n, 0x20, into);
    expect(read.buffer).toBe(into.buffer);
    expect(read).toEqual(original.subarray(0xff0, 0x1010));
    expect(dbg.readMemory(0, 0xff0n, 0x20)).toEqual(read);
    // Past the end of RAM: the bytes up to it, the breakpoint among them hidden.
    const tail = dbg.readMemory(0, 0xfff0n, 0x40, into);
    expect(tail).toEqual(original.subarray(0xfff0, 0x10000));
    expect(vmm.ram[0xfffe]).toBe(0xcc);
  });

  it('refuse an unmapped address', () => {
    const { dbg } = setup();
    expect(dbg.insertBreakpoint(0, 0x10000n)).toBe(false);
    expect(dbg.breakpoints.size).toBe(0);
  });

  it('take writes over them into the shadow and keep the 0xCC', () => {
    const { vmm, dbg } = setup();
    dbg.insertBreakpoint(0, 0x200n);
    expect(dbg.writeMemory(0, 0x1ffn, Buffer.from([1, 2, 3]))).toBe(true);
    expect(vmm.ram[0x200]).toBe(0xcc);
    expect(dbg.readMemory(0, 0x1ffn, 3)).toEqual(Buffer.from([1, 2, 3]));
    dbg.removeBreakpoint(0, 0x200n);
    expect(vmm.ram[0x200]).toBe(2);
  });

  it('leave a byte the guest wrote over the 0xCC alone on removal', () => {
    const { vmm, dbg } = setup();
    dbg.insertBreakpoint(0, 0x300n);
    vmm.ram[0x300] = 0x90; // the guest's own write
    dbg.removeBreakpoint(0, 0x300n);
    expect(vmm.ram[0x300]).toBe(0x90);
  });

  it('are all removed on detach, and the guest runs', async () => {
    const { vmm, dbg, original } = setup(2);
    await dbg.interrupt();
    for (const a of [0x10n, 0x20n, 0x30n]) dbg.insertBreakpoint(0, a);
    dbg.detach();
    expect(vmm.ram.equals(original)).toBe(true);
    expect(vmm.vcpuState(0)).toBe('running');
    expect(vmm.breakpointExitsOn).toBe(false);
  });

  it('report a hit as a breakpoint stop at the int3', async () => {
    const { vmm, dbg } = setup();
    at(vmm, 0, 0x400n);
    dbg.insertBreakpoint(0, 0x410n);
    await expect(dbg.continue()).resolves.toMatchObject({
      vcpu: 0,
      reason: 'breakpoint',
      rip: 0x410n,
    });
  });

  it('step over the breakpoint under rip on continue, and hit it again', async () => {
    const { vmm, dbg } = setup();
    at(vmm, 0, 0x500n);
    dbg.insertBreakpoint(0, 0x500n);
    dbg.insertBreakpoint(0, 0x508n);
    await expect(dbg.continue()).resolves.toMatchObject({ reason: 'breakpoint', rip: 0x508n });
    expect(vmm.ram[0x500]).toBe(0xcc); // planted again after the step
    at(vmm, 0, 0x500n);
    await expect(dbg.continue()).resolves.toMatchObject({ reason: 'breakpoint', rip: 0x508n });
  });

  it('step from a breakpoint address reports a plain step', async () => {
    const { vmm, dbg } = setup();
    at(vmm, 0, 0x600n);
    dbg.insertBreakpoint(0, 0x600n);
    await expect(dbg.step(0)).resolves.toMatchObject({ vcpu: 0, reason: 'step', rip: 0x601n });
    expect(vmm.ram[0x600]).toBe(0xcc);
  });

  it('deliver an int3 that is not ours to the guest as #BP and keep running', async () => {
    const { vmm, dbg } = setup();
    at(vmm, 0, 0x700n);
    dbg.insertBreakpoint(0, 0x780n);
    vmm.ram[0x710] = 0xcc; // the guest's own int3
    await expect(dbg.continue()).resolves.toMatchObject({ reason: 'breakpoint', rip: 0x780n });
    expect(vmm.injected).toEqual([{ vcpu: 0, vector: 3, rip: 0x711n }]);
  });

  it('drop a queued hit of a breakpoint removed before the next resume', async () => {
    const { vmm, dbg } = setup(2);
    at(vmm, 0, 0x800n);
    at(vmm, 1, 0x900n);
    dbg.insertBreakpoint(0, 0x800n + 4n);
    dbg.insertBreakpoint(0, 0x900n + 4n);
    const first = await dbg.continue();
    const other = first.vcpu === 0 ? 0x904n : 0x804n;
    dbg.removeBreakpoint(0, other);
    const stop = dbg.continue();
    setTimeout(() => void dbg.interrupt(), 20);
    await expect(stop).resolves.toMatchObject({ reason: expect.not.stringMatching('breakpoint') });
  });
});
