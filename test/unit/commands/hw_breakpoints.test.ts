import { dispatch } from '../../../lib/commands/dispatch';
import { stopReply } from '../../../lib/commands/stop_reply';
import type { Session } from '../../../lib/commands/types';
import { Debugger } from '../../../lib/debugger/debugger';
import { MockVmm } from '../../../lib/vmm/mock_vmm';
import type { DebugSlotKind } from '../../../lib/vmm/vmm';

function setup(kinds?: DebugSlotKind[]) {
  const vmm = new MockVmm({
    memoryBytes: 0x4000,
    debugSlots: kinds === undefined ? undefined : { kinds },
  });
  const dbg = new Debugger(vmm);
  const session: Session = { generalVcpu: 0, continueVcpu: -1, packetSize: 0x1000 };
  const send = async (packet: string) =>
    (await dispatch({ debugger: dbg, session }, Buffer.from(packet, 'latin1'))).reply;
  return { vmm, dbg, send };
}

const ALL: DebugSlotKind[] = ['exec', 'write', 'read', 'access'];

describe('Z1-Z4 / z1-z4', () => {
  it('Z1 sets an execute slot on every vCPU; z1 frees it', async () => {
    const { vmm, send } = setup(ALL);
    expect(await send('Z1,101314,1')).toBe('OK');
    expect(vmm.slotsOf(0)[0]).toEqual({ address: 0x101314n, kind: 'exec', length: 1 });
    expect(await send('z1,101314,1')).toBe('OK');
    expect(vmm.slotsOf(0)[0]).toBeUndefined();
    expect(await send('z1,101314,1')).toBe('OK'); // not there: still fine
  });

  it('Z2, Z3 and Z4 set write, read and access slots of lengths 1, 2, 4 and 8', async () => {
    const { vmm, send } = setup(ALL);
    expect(await send('Z2,2000,8')).toBe('OK');
    expect(await send('Z3,2009,1')).toBe('OK');
    expect(await send('Z4,200a,2')).toBe('OK');
    expect(await send('Z2,2010,4')).toBe('OK');
    expect(vmm.slotsOf(0)).toEqual([
      { address: 0x2000n, kind: 'write', length: 8 },
      { address: 0x2009n, kind: 'read', length: 1 },
      { address: 0x200an, kind: 'access', length: 2 },
      { address: 0x2010n, kind: 'write', length: 4 },
    ]);
    expect(await send('z3,2009,1')).toBe('OK');
    expect(vmm.slotsOf(0)[1]).toBeUndefined();
  });

  it('answer E16 for an unaligned address or a length other than 1, 2, 4, 8', async () => {
    const { send } = setup(ALL);
    expect(await send('Z2,2004,8')).toBe('E16');
    expect(await send('Z4,2001,2')).toBe('E16');
    expect(await send('Z2,2000,3')).toBe('E16');
    expect(await send('Z3,2000,10')).toBe('E16');
  });

  it('answer E1c when the four slots are in use', async () => {
    const { send } = setup(ALL);
    for (const packet of ['Z1,1000,1', 'Z1,1001,1', 'Z2,2000,8', 'Z4,2008,8']) {
      expect(await send(packet)).toBe('OK');
    }
    expect(await send('Z3,2010,8')).toBe('E1c');
    expect(await send('Z1,1002,1')).toBe('E1c');
  });

  it('answer empty for kinds the backend lacks (gdb then falls back)', async () => {
    expect(await setup().send('Z1,1000,1')).toBe('');
    expect(await setup().send('Z2,2000,8')).toBe('');
    const execOnly = setup(['exec']);
    expect(await execOnly.send('Z1,1000,1')).toBe('OK');
    expect(await execOnly.send('Z2,2000,8')).toBe('');
    expect(await execOnly.send('Z3,2000,8')).toBe('');
    expect(await execOnly.send('z4,2000,8')).toBe('');
    // Read emulated with an access slot where only write and access exist.
    const noRead = setup(['exec', 'write', 'access']);
    expect(await noRead.send('Z3,2000,8')).toBe('OK');
    expect(noRead.vmm.slotsOf(0)[0]).toEqual({ address: 0x2000n, kind: 'access', length: 8 });
  });

  it('qSupported offers hwbreak only with execute slots', async () => {
    expect(await setup(ALL).send('qSupported')).toMatch(/;hwbreak\+/);
    expect(await setup().send('qSupported')).not.toMatch(/hwbreak/);
  });
});

describe('stop replies for debug slots', () => {
  it('hwbreak for an execute slot; watch, rwatch, awatch with the address for data slots', () => {
    expect(stopReply({ vcpu: 0, reason: 'debug-register', rip: 0x1000n, slot: 0 })).toBe(
      'T05thread:1;hwbreak:;',
    );
    const watch = (kind: 'write' | 'read' | 'access') =>
      stopReply({
        vcpu: 1,
        reason: 'watchpoint',
        rip: 0x1003n,
        slot: 2,
        watch: { kind, address: 0x10c018n },
      });
    expect(watch('write')).toBe('T05thread:2;watch:10c018;');
    expect(watch('read')).toBe('T05thread:2;rwatch:10c018;');
    expect(watch('access')).toBe('T05thread:2;awatch:10c018;');
  });

  it('a continue that hits a watchpoint answers with its stop reply', async () => {
    const { vmm, send } = setup(ALL);
    expect(await send('Z2,2000,8')).toBe('OK');
    const reply = send('c');
    await new Promise((resolve) => setImmediate(resolve));
    vmm.triggerWatchpoint(0, 0);
    expect(await reply).toMatch(
      /^T05thread:1;watch:2000;06:[0-9a-f]{16};07:[0-9a-f]{16};10:[0-9a-f]{16};$/,
    );
  });
});
