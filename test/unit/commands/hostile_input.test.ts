import { MockVmm } from '../../../lib/vmm/mock_vmm';
import { commandContext, sendText } from './harness';

// Packets an outside mutation fuzz found accepted: each is refused (E16)
// and changes nothing; the well-formed neighbours still work.

function setup() {
  const vmm = new MockVmm({ memoryBytes: 0x4000 });
  vmm.ram.fill(0x90);
  const context = commandContext(vmm, { packetSize: 0x1000 });
  const send = (packet: string) => sendText(context, packet);
  return { vmm, context, send };
}

describe('trailing garbage and out-of-range fields', () => {
  it.each(['k,k', 'k;', 'k0'])('%s is malformed and kills nothing', async (packet) => {
    const { context, send } = setup();
    expect(await send(packet)).toBe('E16');
    expect(context.session.ending).toBeUndefined();
  });

  it.each(['D,1000f0,1', 'D;\xff', 'D;', 'D1'])(
    '%j is malformed and does not detach',
    async (packet) => {
      const { context, send } = setup();
      expect(await send(packet)).toBe('E16');
      expect(context.session.ending).toBeUndefined();
    },
  );

  it('D and D;pid (multiprocess) detach', async () => {
    for (const packet of ['D', 'D;1', 'D;2a']) {
      const { context, send } = setup();
      expect(await send(packet)).toBe('OK');
      expect(context.session.ending).toBe('detach');
    }
  });

  it.each(['C05;', 'S05;', 'C05x', 'C5', 'c;', 'cxyz'])('%s is malformed', async (packet) => {
    const { send } = setup();
    expect(await send(packet)).toBe('E16');
  });

  it.each([
    'Z0000000000000,3000,1',
    'Z00,3000,1',
    'Z5,3000,1',
    'Z0,3000,2',
    'Z0,3000,0',
    'Z1,1000f0,9',
    'Z1,1000f0,2',
    'Z2,3000,3',
    'Z2,3000,10',
    'Z4,3000,0',
    'Z0,3000,1,',
    'Z0,3000,1;X3,220100',
    'z0000000000000,3000,1',
    'z1,1000f0,9',
  ])('%s is malformed and sets nothing', async (packet) => {
    const { vmm, context, send } = setup();
    expect(await send(packet)).toBe('E16');
    expect(vmm.ram.every((b) => b === 0x90)).toBe(true);
    expect(context.debugger.hardware.size).toBe(0);
  });

  it('the well-formed Z packets still work', async () => {
    const { vmm, send } = setup();
    expect(await send('Z0,300,1')).toBe('OK');
    expect(vmm.ram[0x300]).toBe(0xcc);
    expect(await send('z0,300,1')).toBe('OK');
    expect(await send('S05')).toMatch(/^T/);
  });
});
