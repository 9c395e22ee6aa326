import { qXferThreadsRead, threadsXml } from '../../../lib/commands/qxfer_threads';
import { supportedFeatures } from '../../../lib/commands/session';
import type { CommandContext } from '../../../lib/commands/types';
import { unescapeBinary } from '../../../lib/rsp/binary';
import { MockVmm } from '../../../lib/vmm/mock_vmm';
import { commandContext, sendPacket } from './harness';

function context(vcpus = 3, packetSize = 0x4000): CommandContext {
  return commandContext(new MockVmm({ vcpus }), { packetSize: packetSize });
}

const send = async (ctx: CommandContext, packet: string): Promise<Buffer> =>
  (await sendPacket(ctx, packet)) ?? Buffer.from('<none>');

/** Reads the whole object as gdb does: parts of `chunk` bytes until an `l` reply. */
async function readAll(ctx: CommandContext, chunk: number) {
  const replies: Buffer[] = [];
  const parts: Buffer[] = [];
  for (let offset = 0; ;) {
    const reply = await send(
      ctx,
      `qXfer:threads:read::${offset.toString(16)},${chunk.toString(16)}`,
    );
    replies.push(reply);
    expect(['m', 'l']).toContain(String.fromCharCode(reply[0]!));
    const data = unescapeBinary(reply.subarray(1))!;
    parts.push(data);
    offset += data.length;
    if (reply[0] === 0x6c) break;
  }
  return { text: Buffer.concat(parts).toString(), replies };
}

describe('qXfer:threads:read', () => {
  it('lists every vCPU as a thread with its id, core, name and state', async () => {
    const ctx = context();
    ctx.debugger.hold(2);
    const { text } = await readAll(ctx, 0x1000);
    expect(text).toBe(
      '<?xml version="1.0"?>\n<threads>\n' +
        '  <thread id="1" core="0" name="vCPU 0">parked</thread>\n' +
        '  <thread id="2" core="1" name="vCPU 1">parked</thread>\n' +
        '  <thread id="3" core="2" name="vCPU 2">parked, held by monitor pause</thread>\n' +
        '</threads>\n',
    );
  });

  it('says "waiting for SIPI" for a vCPU that has not started', () => {
    const ctx = context(2);
    jest
      .spyOn(ctx.debugger.vmm, 'vcpuState')
      .mockImplementation((v) => (v === 1 ? 'waiting-for-sipi' : 'parked'));
    expect(threadsXml(ctx.debugger).toString()).toMatch(/name="vCPU 1">waiting for SIPI</);
  });

  it('honours offset and length: m while more follows, l for the last part', async () => {
    const ctx = context(16);
    const whole = threadsXml(ctx.debugger).toString();
    const { text, replies } = await readAll(ctx, 0x40);
    expect(text).toBe(whole);
    expect(replies).toHaveLength(Math.ceil(whole.length / 0x40));
    expect(replies.slice(0, -1).every((r) => r[0] === 0x6d)).toBe(true);
  });

  it('caps each reply at the packet size', async () => {
    const ctx = context(16, 64);
    const { text, replies } = await readAll(ctx, 0x1000);
    expect(text).toBe(threadsXml(ctx.debugger).toString());
    for (const reply of replies) expect(reply.length).toBeLessThanOrEqual(64);
  });

  it('answers l alone past the end, E00 for an annex, E for malformed requests', async () => {
    const ctx = context();
    expect((await send(ctx, 'qXfer:threads:read::10000,10')).toString()).toBe('l');
    expect((await send(ctx, 'qXfer:threads:read:x:0,10')).toString()).toBe('E00');
    expect((await send(ctx, 'qXfer:threads:read::0,0')).toString()).toBe('E16');
    expect(qXferThreadsRead.parse(':0')).toBeUndefined();
    expect(qXferThreadsRead.parse(':1f,20')).toEqual({ annex: '', offset: 0x1f, length: 0x20 });
  });

  it('is offered in qSupported through the dispatcher', async () => {
    const ctx = context();
    const reply = (await send(ctx, 'qSupported:multiprocess+;xmlRegisters=i386')).toString();
    expect(reply.split(';')).toContain('qXfer:threads:read+');
    expect(supportedFeatures([], ctx)).not.toMatch(/threads/);
  });
});
