import { TARGET_DESCRIPTION } from '../../../lib/arch/x86_64/target_xml';
import { qXferFeaturesRead } from '../../../lib/commands/qxfer_features';
import type { CommandContext } from '../../../lib/commands/types';
import { unescapeBinary } from '../../../lib/rsp/binary';
import { MockVmm } from '../../../lib/vmm/mock_vmm';
import { commandContext, sendPacket } from './harness';

function context(packetSize = 0x4000): CommandContext {
  return commandContext(new MockVmm(), { packetSize: packetSize });
}

const send = async (ctx: CommandContext, packet: string): Promise<Buffer> =>
  (await sendPacket(ctx, packet)) ?? Buffer.from('<none>');

const xml = TARGET_DESCRIPTION.get('target.xml')!;

/** Reads the whole annex the way gdb does: chunks until an `l` reply. */
async function readAll(
  ctx: CommandContext,
  chunk: number,
): Promise<{ data: Buffer; replies: Buffer[] }> {
  const replies: Buffer[] = [];
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const reply = await send(
      ctx,
      `qXfer:features:read:target.xml:${offset.toString(16)},${chunk.toString(16)}`,
    );
    replies.push(reply);
    const kind = String.fromCharCode(reply[0]!);
    expect(['m', 'l']).toContain(kind);
    const data = unescapeBinary(reply.subarray(1))!;
    parts.push(data);
    offset += data.length;
    if (kind === 'l') break;
  }
  return { data: Buffer.concat(parts), replies };
}

describe('qXfer:features:read', () => {
  it('parses annex, offset and length; a missing or empty part is malformed', () => {
    expect(qXferFeaturesRead.parse('target.xml:10,ff')).toEqual({
      annex: 'target.xml',
      offset: 0x10,
      length: 0xff,
    });
    expect(qXferFeaturesRead.parse('target.xml:10')).toBeUndefined();
    expect(qXferFeaturesRead.parse('target.xml:,10')).toBeUndefined();
    expect(qXferFeaturesRead.parse('target.xml:0,0')).toBeUndefined();
    expect(qXferFeaturesRead.parse('target.xml:0,1g')).toBeUndefined();
  });

  it('sends the whole description in one l reply when it fits', async () => {
    const reply = await send(context(), 'qXfer:features:read:target.xml:0,ffff');
    expect(String.fromCharCode(reply[0]!)).toBe('l');
    expect(unescapeBinary(reply.subarray(1))).toEqual(xml);
  });

  it('honours offset and length: m while more follows, l for the last part', async () => {
    const { data, replies } = await readAll(context(), 0x100);
    expect(data).toEqual(xml);
    expect(replies.length).toBe(Math.ceil(xml.length / 0x100));
    for (const reply of replies.slice(0, -1)) expect(String.fromCharCode(reply[0]!)).toBe('m');
  });

  it('caps each reply at the packet size', async () => {
    const { data, replies } = await readAll(context(64), 0x1000);
    expect(data).toEqual(xml);
    for (const reply of replies) expect(reply.length).toBeLessThanOrEqual(64);
  });

  it('answers l alone at or past the end', async () => {
    const at = xml.length.toString(16);
    expect((await send(context(), `qXfer:features:read:target.xml:${at},10`)).toString()).toBe('l');
    expect((await send(context(), 'qXfer:features:read:target.xml:100000,10')).toString()).toBe(
      'l',
    );
  });

  it('answers E00 for an unknown annex and E for a malformed request', async () => {
    expect((await send(context(), 'qXfer:features:read:other.xml:0,10')).toString()).toBe('E00');
    expect((await send(context(), 'qXfer:features:read:target.xml:0')).toString()).toMatch(/^E/);
    expect((await send(context(), 'qXfer:features:read:target.xml')).toString()).toMatch(/^E/);
  });

  it('leaves objects it does not serve and writes to the empty reply', async () => {
    expect((await send(context(), 'qXfer:libraries:read::0,10')).toString()).toBe('');
    expect((await send(context(), 'qXfer:features:write:target.xml:0:')).toString()).toBe('');
  });
});
