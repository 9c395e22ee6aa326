import { Debugger } from '../../../lib/debugger/debugger';
import { MockVmm } from '../../../lib/vmm/mock_vmm';

describe('MockVmm.start', () => {
  it("holds vCPU 0 before its first instruction by default and with 'held'", () => {
    const byDefault = new MockVmm({ vcpus: 2 });
    byDefault.start();
    expect(byDefault.vcpuState(0)).toBe('parked');
    const held = new MockVmm({ vcpus: 2 });
    held.start('held');
    expect(held.vcpuState(0)).toBe('parked');
    expect(new Debugger(held).isStopped).toBe(true);
  });

  it("runs vCPU 0 with 'running': a Debugger made then sees a running guest, and an interrupt stops it", async () => {
    const vmm = new MockVmm({ vcpus: 2 });
    vmm.ram.fill(0x90);
    vmm.start('running');
    expect(vmm.vcpuState(0)).toBe('running');
    const dbg = new Debugger(vmm);
    expect(dbg.isStopped).toBe(false);
    const stop = await dbg.interrupt();
    expect(stop.vcpu).toBe(0);
    expect(dbg.isStopped).toBe(true);
  });
});
