import { MockVmm } from '../../../lib/vmm/mock_vmm';
import { commandContext, sendText } from './harness';

function setup() {
  const vmm = new MockVmm({ memoryBytes: 0x4000 });
  vmm.ram.fill(0x90);
  const context = commandContext(vmm, { packetSize: 0x1000 });
  const send = (packet: string) => sendText(context, packet);
  return { vmm, dbg: context.debugger, send };
}

describe('Z0 / z0', () => {
  it('insert and remove a software breakpoint, hidden from m', async () => {
    const { vmm, send } = setup();
    expect(await send('Z0,100,1')).toBe('OK');
    expect(vmm.ram[0x100]).toBe(0xcc);
    expect(await send('m100,1')).toBe('90');
    expect(await send('Z0,100,1')).toBe('OK');
    expect(await send('z0,100,1')).toBe('OK');
    expect(vmm.ram[0x100]).toBe(0x90);
    expect(await send('z0,100,1')).toBe('OK');
  });
  it('answer E for an unmapped address and for malformed packets', async () => {
    const { send } = setup();
    expect(await send('Z0,10000,1')).toMatch(/^E/);
    expect(await send('Z0,100')).toMatch(/^E/);
    expect(await send('Z0,100,1;X1,0')).toMatch(/^E/);
  });
  it('answer empty for breakpoint types not offered', async () => {
    const { send } = setup();
    expect(await send('Z1,100,1')).toBe('');
  });
});
