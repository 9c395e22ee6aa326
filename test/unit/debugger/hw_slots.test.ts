import { Debugger } from '../../../lib/debugger/debugger';
import { MockVmm } from '../../../lib/vmm/mock_vmm';
import type { DebugSlotKind } from '../../../lib/vmm/vmm';

function setup(options: { vcpus?: number; kinds?: DebugSlotKind[] } = {}) {
  const vmm = new MockVmm({
    vcpus: options.vcpus ?? 1,
    memoryBytes: 0x10000,
    debugSlots: options.kinds === undefined ? {} : { kinds: options.kinds },
  });
  vmm.ram.fill(0x90);
  const dbg = new Debugger(vmm);
  return { vmm, dbg };
}

function setRip(vmm: MockVmm, vcpu: number, rip: bigint): void {
  const regs = vmm.getRegisters(vcpu);
  regs.rip = rip;
  vmm.setRegisters(vcpu, regs);
}

describe('hardware breakpoints (debug slots)', () => {
  it('applies the same slots to every vCPU and frees them on removal', () => {
    const { vmm, dbg } = setup({ vcpus: 2 });
    expect(dbg.insertHardware('exec', 0x1000n, 1)).toBe('ok');
    expect(dbg.insertHardware('write', 0x2000n, 8)).toBe('ok');
    for (const vcpu of [0, 1]) {
      expect(vmm.slotsOf(vcpu)).toEqual([
        { address: 0x1000n, kind: 'exec', length: 1 },
        { address: 0x2000n, kind: 'write', length: 8 },
        undefined,
        undefined,
      ]);
    }
    dbg.removeHardware('exec', 0x1000n, 1);
    expect(vmm.slotsOf(1)[0]).toBeUndefined();
    expect(vmm.slotsOf(1)[1]).toEqual({ address: 0x2000n, kind: 'write', length: 8 });
  });

  it('shares four slots between breakpoints and watchpoints; a fifth is refused', () => {
    const { dbg } = setup();
    expect(dbg.insertHardware('exec', 0x1000n, 1)).toBe('ok');
    expect(dbg.insertHardware('exec', 0x1000n, 1)).toBe('ok'); // set semantics: no second slot
    expect(dbg.insertHardware('write', 0x2000n, 4)).toBe('ok');
    expect(dbg.insertHardware('read', 0x2008n, 8)).toBe('ok');
    expect(dbg.insertHardware('access', 0x2010n, 2)).toBe('ok');
    expect(dbg.insertHardware('exec', 0x1004n, 1)).toBe('full');
    dbg.removeHardware('read', 0x2008n, 8);
    expect(dbg.insertHardware('exec', 0x1004n, 1)).toBe('ok');
  });

  it('reports an execute-slot hit with its slot, rip on the instruction', async () => {
    const { vmm, dbg } = setup();
    setRip(vmm, 0, 0x1000n);
    dbg.insertHardware('exec', 0x1010n, 1);
    expect(await dbg.continue()).toEqual({
      vcpu: 0,
      reason: 'debug-register',
      rip: 0x1010n,
      slot: 0,
    });
  });

  it('a continue from the breakpoint runs past it (the step had the slot disabled)', async () => {
    const { vmm, dbg } = setup();
    setRip(vmm, 0, 0x1000n);
    dbg.insertHardware('exec', 0x1010n, 1);
    await dbg.continue();
    dbg.insertHardware('exec', 0x1020n, 1);
    const seen: (string | undefined)[] = [];
    const set = vmm.hwBreakpoints!.set.bind(vmm.hwBreakpoints);
    vmm.hwBreakpoints!.set = (vcpu, slots) => {
      seen.push(slots.map((s) => (s === undefined ? '-' : s.address.toString(16))).join(','));
      set(vcpu, slots);
    };
    const stop = await dbg.continue();
    expect(stop).toEqual({ vcpu: 0, reason: 'debug-register', rip: 0x1020n, slot: 1 });
    expect(seen).toEqual(['-,1020,-,-', '1010,1020,-,-']);
  });

  it('a step from a hardware breakpoint steps one instruction and reports a step', async () => {
    const { vmm, dbg } = setup();
    setRip(vmm, 0, 0x1010n);
    dbg.insertHardware('exec', 0x1010n, 1);
    const stop = await dbg.step(0);
    expect(stop).toEqual({ vcpu: 0, reason: 'step', rip: 0x1011n });
    expect(vmm.slotsOf(0)[0]).toEqual({ address: 0x1010n, kind: 'exec', length: 1 });
  });

  it('reports a watchpoint hit with the address and kind asked for', async () => {
    const { vmm, dbg } = setup();
    setRip(vmm, 0, 0x1000n);
    dbg.insertHardware('access', 0x2000n, 8);
    const stopped = dbg.continue();
    await new Promise((resolve) => setImmediate(resolve));
    expect(vmm.triggerWatchpoint(0, 0)).toBe(true);
    expect(await stopped).toEqual({
      vcpu: 0,
      reason: 'watchpoint',
      rip: 0x1001n,
      slot: 0,
      watch: { kind: 'access', address: 0x2000n },
    });
  });

  it('emulates a read watchpoint with an access slot where the backend has no read slots', async () => {
    const { vmm, dbg } = setup({ kinds: ['exec', 'write', 'access'] });
    setRip(vmm, 0, 0x1000n);
    expect(dbg.insertHardware('read', 0x2000n, 4)).toBe('ok');
    expect(vmm.slotsOf(0)[0]).toEqual({ address: 0x2000n, kind: 'access', length: 4 });
    const stopped = dbg.continue();
    await new Promise((resolve) => setImmediate(resolve));
    // A write (the bytes changed) is not reported: the vCPU goes on.
    vmm.ram.writeUInt32LE(0x1234, 0x2000);
    vmm.triggerWatchpoint(0, 0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(vmm.vcpuState(0)).toBe('running');
    // A read (the bytes unchanged) is.
    vmm.triggerWatchpoint(0, 0);
    const stop = await stopped;
    expect(stop.reason).toBe('watchpoint');
    expect(stop.watch).toEqual({ kind: 'read', address: 0x2000n });
  });

  it('refuses kinds the backend lacks, and everything without debug slots', () => {
    expect(setup({ kinds: ['exec'] }).dbg.insertHardware('write', 0x2000n, 8)).toBe('unsupported');
    expect(setup({ kinds: ['exec', 'write'] }).dbg.insertHardware('read', 0x2000n, 8)).toBe(
      'unsupported',
    );
    const none = new Debugger(new MockVmm());
    expect(none.insertHardware('exec', 0x1000n, 1)).toBe('unsupported');
  });

  it('drops a queued hit whose slot was removed, and frees every slot on detach', async () => {
    const { vmm, dbg } = setup({ vcpus: 2 });
    setRip(vmm, 0, 0x1000n);
    setRip(vmm, 1, 0x3000n);
    dbg.insertHardware('exec', 0x1010n, 1);
    dbg.insertHardware('exec', 0x3010n, 1);
    const first = await dbg.continue();
    expect(first.reason).toBe('debug-register');
    const other = first.vcpu === 0 ? 0x3010n : 0x1010n;
    dbg.removeHardware('exec', other, 1);
    dbg.detach();
    for (const vcpu of [0, 1]) expect(vmm.slotsOf(vcpu)).toEqual([]);
  });
});
