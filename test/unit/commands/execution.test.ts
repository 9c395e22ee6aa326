import { dispatch } from '../../../lib/commands/dispatch';
import type { Session } from '../../../lib/commands/types';
import { Debugger } from '../../../lib/debugger/debugger';
import { MockVmm } from '../../../lib/vmm/mock_vmm';

function setup(vcpus = 1) {
  const vmm = new MockVmm({ memoryBytes: 0x4000, vcpus });
  vmm.ram.fill(0x90);
  for (let v = 0; v < vcpus; v++) {
    const regs = vmm.getRegisters(v);
    regs.rip = 0x100n * BigInt(v + 1);
    vmm.setRegisters(v, regs);
  }
  const dbg = new Debugger(vmm);
  const session: Session = { generalVcpu: 0, continueVcpu: -1, packetSize: 0x1000 };
  const send = async (packet: string) =>
    (await dispatch({ debugger: dbg, session }, Buffer.from(packet, 'latin1'))).reply;
  const rip = (v: number) => vmm.getRegisters(v).rip;
  return { vmm, dbg, send, rip, session };
}

/** The registers a stop reply carries (rbp, rsp, rip): the mock's rbp and rsp are 0. */
function expedited(rip: number): string {
  const le = Buffer.alloc(8);
  le.writeBigUInt64LE(BigInt(rip));
  return `06:${'0'.repeat(16)};07:${'0'.repeat(16)};10:${le.toString('hex')};`;
}

describe('c, C, s, S', () => {
  it('c reports a breakpoint hit with swbreak', async () => {
    const { send, rip } = setup();
    await send('Z0,108,1');
    expect(await send('c')).toBe('T05thread:1;swbreak:;' + expedited(0x108));
    expect(rip(0)).toBe(0x108n);
  });
  it('c from the breakpoint address steps over it and hits the next', async () => {
    const { send, rip } = setup();
    await send('Z0,100,1');
    await send('Z0,104,1');
    expect(await send('c')).toBe('T05thread:1;swbreak:;' + expedited(0x104));
    expect(rip(0)).toBe(0x104n);
  });
  it('C ignores its signal', async () => {
    const { send } = setup();
    await send('Z0,108,1');
    expect(await send('C05')).toBe('T05thread:1;swbreak:;' + expedited(0x108));
    expect(await send('Czz')).toMatch(/^E/);
  });
  it('s steps the current vCPU only, also from a breakpoint, and reports no swbreak', async () => {
    const { send, rip } = setup(2);
    await send('Z0,100,1');
    expect(await send('s')).toBe('T05thread:1;' + expedited(0x101));
    expect(rip(0)).toBe(0x101n);
    expect(rip(1)).toBe(0x200n);
    expect(await send('S05')).toBe('T05thread:1;' + expedited(0x102));
    expect(rip(0)).toBe(0x102n);
  });
  it('s with Hc steps that vCPU', async () => {
    const { send, rip } = setup(2);
    expect(await send('Hc2')).toBe('OK');
    expect(await send('s')).toBe('T05thread:2;' + expedited(0x201));
    expect(rip(1)).toBe(0x201n);
  });
});

describe('vCont', () => {
  it('vCont? lists the actions', async () => {
    const { send } = setup();
    expect(await send('vCont?')).toBe('vCont;c;C;s;S;t;r');
  });
  it('vCont;s:N steps that vCPU only', async () => {
    const { send, rip } = setup(3);
    expect(await send('vCont;s:2')).toBe('T05thread:2;' + expedited(0x201));
    expect([rip(0), rip(1), rip(2)]).toEqual([0x100n, 0x201n, 0x300n]);
  });
  it('vCont;s:2;c steps thread 2 and runs the others; the first stop is reported', async () => {
    const { send, vmm, rip } = setup(2);
    expect(await send('vCont;s:2;c')).toBe('T05thread:2;' + expedited(0x201));
    expect(rip(1)).toBe(0x201n);
    expect(vmm.vcpuState(0)).toBe('parked');
  });
  it('vCont;c and vCont;C05 resume every vCPU', async () => {
    const { send } = setup(2);
    await send('Z0,208,1');
    expect(await send('vCont;c')).toBe('T05thread:2;swbreak:;' + expedited(0x208));
    await send('Z0,20c,1');
    expect(await send('vCont;C05')).toBe('T05thread:2;swbreak:;' + expedited(0x20c));
  });
  it('stepping or continuing a vCPU that waits for SIPI is an error naming it', async () => {
    const { send, vmm, session, rip } = setup(2);
    const state = vmm.vcpuState.bind(vmm);
    jest
      .spyOn(vmm, 'vcpuState')
      .mockImplementation((v) => (v === 1 ? 'waiting-for-sipi' : state(v)));
    const said: string[] = [];
    session.sendEarly = (payload) => said.push(Buffer.from(payload.slice(1), 'hex').toString());
    expect(await send('vCont;s:2')).toBe('E05');
    expect(await send('vCont;c:2')).toBe('E05');
    expect(said).toEqual([
      'vmm-gdbstub: thread 2 (vCPU 1) cannot run: waiting for SIPI\n',
      'vmm-gdbstub: thread 2 (vCPU 1) cannot run: waiting for SIPI\n',
    ]);
    session.continueVcpu = 1;
    expect(await send('s')).toBe('E05');
    expect(rip(0)).toBe(0x100n);
    // The vCPU that can run still steps, and its stop names it.
    expect(await send('vCont;s:1')).toBe('T05thread:1;' + expedited(0x101));
  });
  it('rejects malformed vCont and unknown threads', async () => {
    const { send } = setup();
    expect(await send('vCont;q')).toMatch(/^E/);
    expect(await send('vCont;s:9')).toMatch(/^E/);
  });
});

describe('vCont;r (range stepping)', () => {
  it('steps while rip stays in [start, end) and reports the first stop outside it', async () => {
    const { send, rip } = setup();
    expect(await send('vCont;r100,110:1')).toBe('T05thread:1;' + expedited(0x110));
    expect(rip(0)).toBe(0x110n);
  });
  it('stops at a breakpoint inside the range', async () => {
    const { send, rip } = setup();
    await send('Z0,108,1');
    expect(await send('vCont;r100,110:1')).toBe('T05thread:1;swbreak:;' + expedited(0x108));
    expect(rip(0)).toBe(0x108n);
  });
  it('from a breakpoint at its start, steps over it and goes on in the range', async () => {
    const { send, rip, vmm } = setup();
    await send('Z0,100,1');
    expect(await send('vCont;r100,110:1')).toBe('T05thread:1;' + expedited(0x110));
    expect(rip(0)).toBe(0x110n);
    expect(vmm.ram[0x100]).toBe(0xcc); // planted again
  });
  it('an empty range is one step; other vCPUs follow their own actions', async () => {
    const { send, rip } = setup(2);
    expect(await send('vCont;r101,101:1')).toBe('T05thread:1;' + expedited(0x101));
    expect([rip(0), rip(1)]).toEqual([0x101n, 0x200n]);
  });
  it('a range the vCPU never leaves ends with an interrupt', async () => {
    const { send, dbg } = setup();
    const reply = send('vCont;r0,ffffffffffffffff:1');
    await new Promise((resolve) => setImmediate(resolve));
    expect(dbg.isStopped).toBe(false);
    await dbg.interrupt();
    expect(await reply).toMatch(/^T02thread:1;/);
  });
  it('refuses malformed ranges with E16 and keeps serving', async () => {
    const { send, rip } = setup();
    for (const bad of [
      'vCont;r110,100:1', // start > end
      'vCont;r100:1',
      'vCont;r100,:1',
      'vCont;r,100:1',
      'vCont;rzz,100:1',
      'vCont;r100,110:',
      'vCont;r100,110:zz',
      'vCont;r1,10000000000000000:1', // past 64 bits
      'vCont;r' + '0'.repeat(5000) + '1,2:1',
      'vCont;r-1,2:1',
    ]) {
      expect(await send(bad)).toBe('E16');
    }
    expect(rip(0)).toBe(0x100n);
    expect(await send('vCont;r100,102:1')).toBe('T05thread:1;' + expedited(0x102));
  });
});
