import { MEMORY_MAP, memoryMapXml } from '../../../lib/commands/qxfer_memory_map';
import type { CommandContext } from '../../../lib/commands/types';
import { unescapeBinary } from '../../../lib/rsp/binary';
import { MockVmm } from '../../../lib/vmm/mock_vmm';
import { commandContext, sendPacket } from './harness';

function context(packetSize = 0x4000): CommandContext {
  return commandContext(new MockVmm(), { packetSize: packetSize });
}

const send = async (ctx: CommandContext, packet: string): Promise<Buffer> =>
  (await sendPacket(ctx, packet)) ?? Buffer.from('<none>');

const TOP = 1n << 64n;

describe('qXfer:memory-map:read', () => {
  it('describes both canonical halves (57-bit rule) as RAM, and nothing else', () => {
    expect(MEMORY_MAP).toEqual([
      { start: 0n, length: 0x100000000000000n },
      { start: 0xff00000000000000n, length: 0x100000000000000n },
    ]);
    expect(MEMORY_MAP[1]!.start + MEMORY_MAP[1]!.length).toBe(TOP);
    const xml = memoryMapXml().toString();
    expect(xml).toMatch(/^<\?xml version="1\.0"\?>\n<!DOCTYPE memory-map /);
    const regions = [
      ...xml.matchAll(/<memory type="ram" start="(0x[0-9a-f]+)" length="(0x[0-9a-f]+)"\/>/g),
    ];
    expect(regions.map((m) => [m[1], m[2]])).toEqual([
      ['0x0', '0x100000000000000'],
      ['0xff00000000000000', '0x100000000000000'],
    ]);
  });

  it('covers guest RAM at its physical addresses (phys mode) and higher-half kernels', () => {
    const inMap = (address: bigint) =>
      MEMORY_MAP.some((r) => address >= r.start && address < r.start + r.length);
    const vmm = new MockVmm({ memoryBytes: 1 << 20 });
    for (const { gpa, size } of vmm.memoryRegions()) {
      expect(inMap(BigInt(gpa))).toBe(true);
      expect(inMap(BigInt(gpa + size - 1))).toBe(true);
    }
    expect(inMap((1n << 52n) - 1n)).toBe(true); // the highest physical address x86-64 has
    expect(inMap(0xffffffff80101000n)).toBe(true); // higher.elf's hh_marker
    expect(inMap(0xffff800000000000n)).toBe(true); // 4-level paging's upper half
    expect(inMap(0x8000000000000000n)).toBe(false); // non-canonical in every paging mode
  });

  it('sends the map in parts honouring offset and length', async () => {
    const ctx = context();
    const whole = memoryMapXml();
    const parts: Buffer[] = [];
    let offset = 0;
    for (;;) {
      const reply = await send(ctx, `qXfer:memory-map:read::${offset.toString(16)},50`);
      const data = unescapeBinary(reply.subarray(1))!;
      expect(data.length).toBeLessThanOrEqual(0x50);
      parts.push(data);
      offset += data.length;
      if (reply[0] === 0x6c) break;
      expect(reply[0]).toBe(0x6d);
    }
    expect(Buffer.concat(parts)).toEqual(whole);
    const once = await send(ctx, 'qXfer:memory-map:read::0,ffff');
    expect(String.fromCharCode(once[0]!)).toBe('l');
    expect(unescapeBinary(once.subarray(1))).toEqual(whole);
  });

  it('answers l past the end, E00 for an annex, E16 when malformed', async () => {
    const ctx = context();
    expect((await send(ctx, 'qXfer:memory-map:read::fff0,10')).toString()).toBe('l');
    expect((await send(ctx, 'qXfer:memory-map:read:ram:0,10')).toString()).toBe('E00');
    expect((await send(ctx, 'qXfer:memory-map:read::0')).toString()).toBe('E16');
  });

  it('is offered in qSupported', async () => {
    const reply = (await send(context(), 'qSupported')).toString();
    expect(reply.split(';')).toContain('qXfer:memory-map:read+');
  });
});
