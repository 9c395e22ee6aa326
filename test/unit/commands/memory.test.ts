import { dispatch } from '../../../lib/commands/dispatch';
import type { Session } from '../../../lib/commands/types';
import { Debugger } from '../../../lib/debugger/debugger';
import { payloadBytes } from '../../../lib/rsp/encoded_payload';
import { MockVmm } from '../../../lib/vmm/mock_vmm';

const baseSession: Session = { generalVcpu: 0, continueVcpu: -1, packetSize: 0x1000 };

function setup(session: Partial<Session> = {}) {
  // Guest-virtual = guest-physical + 0x1000: virtual page 0 is unmapped.
  const vmm = new MockVmm({ memoryBytes: 0x4000, virtualOffset: 0x1000n });
  for (let i = 0; i < vmm.ram.length; i++) vmm.ram[i] = i & 0xff;
  const dbg = new Debugger(vmm);
  const full: Session = { generalVcpu: 0, continueVcpu: -1, packetSize: 0x1000, ...session };
  const send = async (packet: string | Buffer) => {
    const payload = typeof packet === 'string' ? Buffer.from(packet, 'latin1') : packet;
    const { reply } = await dispatch({ debugger: dbg, session: full }, payload);
    return reply === null ? null : payloadBytes(reply).toString('latin1');
  };
  return { vmm, dbg, send, session: full };
}

describe('m', () => {
  it('reads across a page boundary', async () => {
    const { send } = setup();
    expect(await send('m1ffe,4')).toBe('feff0001');
  });
  it('returns the readable prefix of a partly unmapped range, E when none is', async () => {
    const { send } = setup();
    expect(await send('m4ffe,4')).toBe('feff');
    expect(await send('mffe,4')).toMatch(/^E/);
  });
  it('bounds a huge length by the packet size', async () => {
    const { send } = setup();
    const reply = (await send('m1000,ffffffffff'))!;
    expect(reply.length).toBeLessThanOrEqual(0x1000);
    expect(reply.length % 2).toBe(0);
  });
  it('reads into one buffer kept for the session, grown when a read is longer', async () => {
    const { send, session } = setup();
    expect(await send('m1010,4')).toBe('10111213');
    const kept = session.readBuffer;
    expect(kept).toBeDefined();
    expect(await send('x1020,3')).toBe('\x20\x21\x22');
    expect(await send('m1030,2')).toBe('3031');
    expect(session.readBuffer).toBe(kept);
    expect(await send('m1000,100')).toBe(
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('hex'),
    );
    expect(session.readBuffer!.length).toBeGreaterThanOrEqual(0x100);
  });
  it('answers malformed requests with E', async () => {
    const { send } = setup();
    expect(await send('m1000')).toMatch(/^E/);
    expect(await send('mzz,1')).toMatch(/^E/);
  });
});

describe('M', () => {
  it('writes across a page boundary', async () => {
    const { vmm, send } = setup();
    expect(await send('M1ffe,4:aabbccdd')).toBe('OK');
    expect(vmm.ram.subarray(0xffe, 0x1002)).toEqual(Buffer.from('aabbccdd', 'hex'));
  });
  it('writes nothing when any page is unmapped', async () => {
    const { vmm, send } = setup();
    expect(await send('M4ffe,4:aabbccdd')).toMatch(/^E/);
    expect(vmm.ram.subarray(0x3ffe)).toEqual(Buffer.from([0xfe, 0xff]));
  });
  it('rejects a length that does not match the data', async () => {
    const { send } = setup();
    expect(await send('M1000,2:aa')).toMatch(/^E/);
  });
});

describe('x and X', () => {
  it('x replies with b and escaped bytes after binary-upload+ (gdb)', async () => {
    const { vmm, send } = setup({ clientFeatures: ['binary-upload+'] });
    vmm.ram.set([0x23, 0x24, 0x7d, 0x2a, 0x41], 0x100);
    expect(await send('x1100,5')).toBe('b}\x03}\x04}]}\x0aA');
  });
  it('x replies with bare escaped bytes otherwise (lldb)', async () => {
    const { vmm, send } = setup();
    vmm.ram.set([0x7d, 0x41], 0x100);
    expect(await send('x1100,2')).toBe('}]A');
    expect(await send('xf00,2')).toMatch(/^E/);
  });
  it('X writes unescaped binary data and takes a zero-length probe', async () => {
    const { vmm, send } = setup();
    expect(await send('X1000,0:')).toBe('OK');
    expect(await send(Buffer.from('X1100,3:}\x03A}]', 'latin1'))).toBe('OK');
    expect(vmm.ram.subarray(0x100, 0x103)).toEqual(Buffer.from([0x23, 0x41, 0x7d]));
    expect(await send('X1100,3:AB')).toMatch(/^E/);
  });
});

describe('qSearch:memory and t', () => {
  it('finds a pattern, across a window seam too', async () => {
    const { vmm, send } = setup();
    vmm.ram.set(Buffer.from('needle'), 0x2ff0);
    expect(await send('qSearch:memory:1000;3000;needle')).toBe('1,3ff0');
    expect(await send('qSearch:memory:1000;10;ffffffff')).toBe('0');
    expect(await send('qSearch:memory:0;10;00')).toMatch(/^E/);
  });
  it('reads the pattern as escaped binary, as gdb sends it, not as hex', async () => {
    const { vmm, send } = setup();
    vmm.ram.set(Buffer.from('abcd'), 0x1000);
    vmm.ram.set([0xab, 0xcd], 0x1010);
    expect(await send('qSearch:memory:2000;100;abcd')).toBe('1,2000');
    // Bytes that are not hex digits, a ';' and an escaped '}' (0x7d) and '#' (0x23).
    vmm.ram.set(Buffer.from([0x00, 0x3b, 0x7d, 0x23, 0xff]), 0x1800);
    const pattern = Buffer.from([0x00, 0x3b, 0x7d, 0x5d, 0x7d, 0x03, 0xff]);
    const packet = Buffer.concat([Buffer.from('qSearch:memory:1000;3000;'), pattern]);
    expect(await send(packet)).toBe('1,2800');
    expect(await send('qSearch:memory:1000;3000;}')).toMatch(/^E/); // a lone escape
  });
  it('ends a length past guest RAM at its end', async () => {
    const { send } = setup();
    expect(await send('qSearch:memory:1000;ffffffffffffffff;not in RAM')).toBe('0');
    expect(await send('qSearch:memory:fffffffffffffff0;ffffffffffffffff;x')).toMatch(/^E/);
  });
  it('searches in slices, reading into one buffer, and a Ctrl-C ends it', async () => {
    const vmm = new MockVmm({ memoryBytes: 0x400000 });
    const context = { debugger: new Debugger(vmm), session: { ...baseSession } };
    const copies = jest.spyOn(vmm, 'readPhysical');
    let ticks = 0;
    const tick = (): void => {
      ticks++;
      if (!done) setImmediate(tick);
    };
    let done = false;
    setImmediate(tick);
    const { reply } = await dispatch(context, Buffer.from('qSearch:memory:0;400000;absent'));
    done = true;
    expect(reply).toBe('0');
    expect(ticks).toBeGreaterThan(1); // the event loop ran while it searched
    expect(copies).not.toHaveBeenCalled();
    const pending = dispatch(context, Buffer.from('qSearch:memory:0;400000;absent'));
    setImmediate(() => (context.session.interrupts = 1));
    expect((await pending).reply).toBe('E04');
  });
  it('t searches backwards under a mask', async () => {
    const { vmm, send } = setup();
    vmm.ram.set([0xde, 0xad, 0xbe, 0xef], 0x200);
    expect(await send('t1400:deadbeef,ffffffff')).toBe('1,1200');
    expect(await send('t1400:de00be00,ff00ff00')).toBe('1,1200');
    expect(await send('t14:deadbeef,ffffffff')).toMatch(/^E/);
  });
});
