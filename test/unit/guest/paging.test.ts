import { planBoot, type BootPlan } from '../../../lib/guest';
import { buildElf, guestMemory, translate } from './image_builder';

const MEMORY = 8 * 1024 * 1024;

function plan(): BootPlan {
  const elf = buildElf({
    entry: 0x100000,
    segments: [{ vaddr: 0x100000, data: Buffer.alloc(0x10, 0xf4) }],
  });
  return planBoot(elf, { memorySize: MEMORY, cmdline: '', cpus: 1 });
}

describe('ELF64 identity page tables', () => {
  const bootPlan = plan();
  const memory = guestMemory(bootPlan, MEMORY);
  const cr3 = bootPlan.bsp.cr3;

  it.each([0x0n, 0x100000n, 0x12345678n, 0x8fff0n, 0xfee00000n, 0xffe00000n, 0xffffffffn])(
    'translates GVA %p to itself',
    (gva) => {
      expect(translate(memory, cr3, gva)).toBe(gva);
    },
  );

  it('maps nothing at or above 4 GiB', () => {
    expect(translate(memory, cr3, 0x100000000n)).toBeUndefined();
    expect(translate(memory, cr3, 0xffffffff80000000n)).toBeUndefined();
  });

  it('places PML4, PDPT and the four page directories at 0x1000-0x6fff with present, writable entries', () => {
    expect(memory.readBigUInt64LE(0x1000)).toBe(0x2003n);
    expect(memory.readBigUInt64LE(0x1008)).toBe(0n);
    expect([0, 1, 2, 3].map((i) => memory.readBigUInt64LE(0x2000 + 8 * i))).toEqual([
      0x3003n,
      0x4003n,
      0x5003n,
      0x6003n,
    ]);
    expect(memory.readBigUInt64LE(0x2020)).toBe(0n);
    expect(memory.readBigUInt64LE(0x3000)).toBe(0x83n);
    expect(memory.readBigUInt64LE(0x6ff8)).toBe(0xffe00083n);
  });

  it('writes the tables as one contiguous block', () => {
    const tables = bootPlan.writes.find((w) => w.gpa === 0x1000);
    expect(tables?.data.length).toBe(0x6000);
  });
});
