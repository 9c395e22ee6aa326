import { Debugger } from '../../../lib/debugger/debugger';
import { MockVmm } from '../../../lib/vmm/mock_vmm';

function runningMock(vcpus: number): MockVmm {
  const vmm = new MockVmm({ vcpus });
  for (let v = 0; v < vcpus; v++) vmm.resume(v);
  return vmm;
}

describe('Debugger (all-stop)', () => {
  it('stops every vCPU on interrupt and reports vCPU 0 as interrupted', async () => {
    const vmm = runningMock(4);
    const dbg = new Debugger(vmm);
    const stop = await dbg.interrupt();
    expect(stop.reason).toBe('interrupt');
    for (let v = 0; v < 4; v++) expect(vmm.vcpuState(v)).toBe('parked');
    expect(dbg.isStopped).toBe(true);
  });

  it('reports a breakpoint on one vCPU and stops the others', async () => {
    const vmm = new MockVmm({ vcpus: 2 });
    const regs = vmm.getRegisters(1);
    regs.rip = 0x1000n;
    vmm.setRegisters(1, regs);
    const r0 = vmm.getRegisters(0);
    r0.rip = 0x8000n;
    vmm.setRegisters(0, r0);
    const dbg = new Debugger(vmm);
    expect(dbg.insertBreakpoint(1, 0x1010n)).toBe(true);
    const stop = await dbg.continue();
    expect(stop).toEqual({ vcpu: 1, reason: 'breakpoint', rip: 0x1010n });
    expect(vmm.vcpuState(0)).toBe('parked');
  });

  it('queues a second vCPU stop and reports it on the next continue without running', async () => {
    const vmm = new MockVmm({ vcpus: 2 });
    for (const [v, rip] of [
      [0, 0x0ff0n],
      [1, 0x1ff0n],
    ] as const) {
      const regs = vmm.getRegisters(v);
      regs.rip = rip;
      vmm.setRegisters(v, regs);
    }
    const dbg = new Debugger(vmm);
    dbg.insertBreakpoint(0, 0x1000n);
    dbg.insertBreakpoint(0, 0x2000n);
    const first = await dbg.continue();
    const second = await dbg.continue();
    expect([first.vcpu, second.vcpu].sort()).toEqual([0, 1]);
    expect(second.reason).toBe('breakpoint');
  });

  it('resumes every vCPU on detach', async () => {
    const vmm = runningMock(3);
    const dbg = new Debugger(vmm);
    await dbg.interrupt();
    dbg.detach();
    for (let v = 0; v < 3; v++) expect(vmm.vcpuState(v)).toBe('running');
  });

  it('answers interrupt at once when already stopped', async () => {
    const vmm = new MockVmm({ vcpus: 1 });
    const dbg = new Debugger(vmm);
    await expect(dbg.interrupt()).resolves.toMatchObject({ vcpu: 0, reason: 'interrupt' });
  });

  it('a range step still running when the debugger detaches lets its vCPU run on when it stops', async () => {
    const vmm = new MockVmm({ vcpus: 2 });
    const dbg = new Debugger(vmm);
    void dbg.resume(new Map([[0, { start: 0n, end: 0xffffffffn }]]));
    await new Promise((resolve) => setImmediate(resolve));
    expect(vmm.vcpuState(0)).toBe('running');
    dbg.detach();
    expect(vmm.vcpuState(1)).toBe('running');
    // Its stop arrives with nobody attached: it runs on, and nothing else stops.
    vmm.pause(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect([vmm.vcpuState(0), vmm.vcpuState(1)]).toEqual(['running', 'running']);
    expect(dbg.isStopped).toBe(false);
    // A debugger that attaches again stops it as usual.
    await expect(dbg.interrupt()).resolves.toMatchObject({ reason: 'interrupt' });
    expect(vmm.vcpuState(0)).toBe('parked');
  });
});
