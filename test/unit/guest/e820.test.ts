import { E820_RAM, E820_RESERVED, e820Map, encodeE820 } from '../../../lib/guest/e820';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('e820Map', () => {
  it('describes low RAM, the reserved EBDA-to-1 MiB area and RAM from 1 MiB', () => {
    expect(e820Map(512 * MiB)).toEqual([
      { addr: 0, size: 0x9fc00, type: E820_RAM },
      { addr: 0x9fc00, size: 0x100000 - 0x9fc00, type: E820_RESERVED },
      { addr: 0x100000, size: 512 * MiB - 0x100000, type: E820_RAM },
    ]);
  });

  it('ends RAM at 3 GiB exactly when memory is 3 GiB', () => {
    const map = e820Map(3 * GiB);
    expect(map).toHaveLength(3);
    expect(map[2].addr + map[2].size).toBe(3 * GiB);
  });

  it('puts memory past 3 GiB at 4 GiB, where the backends map it', () => {
    expect(e820Map(5 * GiB).slice(2)).toEqual([
      { addr: 0x100000, size: 3 * GiB - 0x100000, type: E820_RAM },
      { addr: 4 * GiB, size: 2 * GiB, type: E820_RAM },
    ]);
  });

  it('lists sorted ranges that never overlap and add up to the RAM size', () => {
    for (const size of [2 * MiB, 64 * MiB, 3 * GiB, 6 * GiB]) {
      const map = e820Map(size);
      for (let i = 1; i < map.length; i++) {
        expect(map[i].addr).toBeGreaterThanOrEqual(map[i - 1].addr + map[i - 1].size);
      }
      const ram = map.filter((e) => e.type === E820_RAM).reduce((sum, e) => sum + e.size, 0);
      expect(ram).toBe(size - (0x100000 - 0x9fc00));
    }
  });
});

describe('encodeE820', () => {
  it('writes struct boot_e820_entry: u64 addr, u64 size, u32 type, 20 bytes each', () => {
    const bytes = encodeE820([
      { addr: 0x100000, size: 4 * GiB, type: E820_RAM },
      { addr: 0x9fc00, size: 0x400, type: E820_RESERVED },
    ]);
    expect(bytes).toHaveLength(40);
    expect(bytes.readBigUInt64LE(0)).toBe(0x100000n);
    expect(bytes.readBigUInt64LE(8)).toBe(BigInt(4 * GiB));
    expect(bytes.readUInt32LE(16)).toBe(1);
    expect(bytes.readBigUInt64LE(20)).toBe(0x9fc00n);
    expect(bytes.readUInt32LE(36)).toBe(2);
  });
});
