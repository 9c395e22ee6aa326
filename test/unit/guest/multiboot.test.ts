import { BootError, planBoot, type BootPlan } from '../../../lib/guest';
import { buildElf, guestMemory, multibootHeader, rawImage } from './image_builder';

const MEMORY = 16 * 1024 * 1024;
const options = { memorySize: MEMORY, cmdline: '', cpus: 1 };

/** A raw kernel whose header says: file offset 0 loads at 1 MiB, entry 16 bytes after the header. */
function addressFieldKernel(headerOffset: number, size = 0x2000, bssEnd = 0): Buffer {
  const loadAddr = 0x100000;
  return rawImage(size, [
    {
      offset: headerOffset,
      bytes: multibootHeader({
        addresses: {
          headerAddr: loadAddr + headerOffset,
          loadAddr,
          loadEndAddr: 0,
          bssEndAddr: bssEnd,
          entryAddr: loadAddr + headerOffset + 32,
        },
      }),
    },
  ]);
}

function plan(image: Buffer): BootPlan {
  return planBoot(image, options);
}

describe('Multiboot header search', () => {
  it.each([0, 4, 0x400, 0x1000, 8192 - 32])('finds a header at file offset %i', (offset) => {
    const result = plan(addressFieldKernel(offset, 0x3000));
    expect(result.format).toBe('multiboot');
    expect(result.entry).toBe(BigInt(0x100000 + offset + 32));
  });

  it('finds a 12-byte header ending exactly at byte 8192', () => {
    const elf = buildElf({
      elfClass: 32,
      entry: 0x100000,
      segments: [{ vaddr: 0x100000, data: Buffer.alloc(16, 0xf4) }],
      dataOffset: 0x3000,
      patches: [{ offset: 8192 - 12, bytes: multibootHeader() }],
    });
    expect(plan(elf).format).toBe('multiboot');
  });

  it('ignores a header that is not 4-byte aligned', () => {
    const image = rawImage(0x2000, [{ offset: 2, bytes: multibootHeader() }]);
    expect(() => plan(image)).toThrow('not a kernel');
  });

  it('ignores a header that does not lie entirely within the first 8192 bytes', () => {
    const image = rawImage(0x4000, [{ offset: 8192 - 8, bytes: multibootHeader() }]);
    expect(() => plan(image)).toThrow('not a kernel');
  });

  it('refuses a magic whose checksum is wrong, naming its offset', () => {
    const image = rawImage(0x2000, [{ offset: 0x40, bytes: multibootHeader({ checksum: 1 }) }]);
    expect(() => plan(image)).toThrow(
      new BootError(
        'Multiboot header at offset 0x40 has a bad checksum (magic + flags + checksum must be 0)',
      ),
    );
  });

  it('skips a bad-checksum magic when a valid header follows it', () => {
    const image = addressFieldKernel(0x100, 0x2000);
    multibootHeader({ checksum: 7 }).copy(image, 0x10);
    expect(plan(image).entry).toBe(0x100000n + 0x100n + 32n);
  });

  it('accepts required flags 0 (page-align modules) and 1 (memory info)', () => {
    const image = rawImage(0x2000);
    const loadAddr = 0x100000;
    multibootHeader({
      flags: 0b11,
      addresses: {
        headerAddr: loadAddr,
        loadAddr,
        loadEndAddr: 0,
        bssEndAddr: 0,
        entryAddr: loadAddr + 0x40,
      },
    }).copy(image, 0);
    expect(plan(image).format).toBe('multiboot');
  });

  it('refuses the video mode requirement (flag bit 2)', () => {
    const image = rawImage(0x2000, [{ offset: 0, bytes: multibootHeader({ flags: 1 << 2 }) }]);
    expect(() => plan(image)).toThrow(
      'Multiboot header requires video mode information (flag bit 2), which this loader cannot provide',
    );
  });

  it('refuses unknown required flag bits', () => {
    const image = rawImage(0x2000, [
      { offset: 0, bytes: multibootHeader({ flags: (1 << 5) | (1 << 15) | 1 }) },
    ]);
    expect(() => plan(image)).toThrow(
      'Multiboot header sets unknown required flag bits 0x8020; refusing to boot',
    );
  });

  it('ignores unknown optional flag bits (17-31)', () => {
    const image = addressFieldKernel(0);
    const flags = image.readUInt32LE(4) | (1 << 20);
    image.writeUInt32LE(flags >>> 0, 4);
    image.writeUInt32LE(-(0x1badb002 + flags) >>> 0, 8);
    expect(plan(image).format).toBe('multiboot');
  });

  it('refuses a header without address fields when the image is not ELF', () => {
    const image = rawImage(0x2000, [{ offset: 8, bytes: multibootHeader() }]);
    expect(() => plan(image)).toThrow(
      'Multiboot header at offset 0x8 has no address fields (flag bit 16) and the image is not ELF',
    );
  });

  it('refuses address fields that run past the search window', () => {
    const image = rawImage(0x4000, [
      { offset: 8192 - 16, bytes: multibootHeader({ flags: 1 << 16 }) },
    ]);
    expect(() => plan(image)).toThrow(
      'Multiboot header at offset 0x1ff0 sets flag bit 16 but its address fields run past the first 8192 bytes or the file',
    );
  });

  it('refuses a Multiboot2-only kernel with a clear message', () => {
    const mb2 = Buffer.alloc(16);
    mb2.writeUInt32LE(0xe85250d6, 0);
    mb2.writeUInt32LE(0, 4);
    mb2.writeUInt32LE(16, 8);
    mb2.writeUInt32LE(-(0xe85250d6 + 16) >>> 0, 12);
    const image = rawImage(0x2000, [{ offset: 0x18, bytes: mb2 }]);
    expect(() => plan(image)).toThrow(
      'Multiboot2 header at offset 0x18 but no Multiboot v1 header; only Multiboot v1 is supported',
    );
  });
});

describe('Multiboot address fields (flag bit 16)', () => {
  it('loads from file offset header_offset - (header_addr - load_addr) to load_addr', () => {
    // Header at file offset 0x200, but the kernel says file offset 0x80 is its load_addr.
    const image = rawImage(0x3000);
    for (let i = 0; i < image.length; i++) image[i] = i & 0xff;
    multibootHeader({
      addresses: {
        headerAddr: 0x200180,
        loadAddr: 0x200000,
        loadEndAddr: 0x201000,
        bssEndAddr: 0,
        entryAddr: 0x200400,
      },
    }).copy(image, 0x200);
    const result = plan(image);
    const memory = guestMemory(result, MEMORY);
    expect(memory.subarray(0x200000, 0x201000)).toEqual(image.subarray(0x80, 0x1080));
    expect(memory[0x201000]).toBe(0);
    const imageWrites = result.writes.filter((w) => w.gpa >= 0x100000);
    expect(imageWrites.map((w) => [w.gpa, w.data.length])).toEqual([[0x200000, 0x1000]]);
  });

  it('loads to the end of the file when load_end_addr is 0', () => {
    const image = addressFieldKernel(0x10, 0x2345);
    const result = plan(image);
    const loaded = result.writes.filter((w) => w.gpa >= 0x100000);
    expect(loaded).toHaveLength(1);
    expect(loaded[0].gpa).toBe(0x100000);
    expect(loaded[0].data).toEqual(image);
  });

  it('zeroes from the end of the loaded data up to bss_end_addr', () => {
    const image = addressFieldKernel(0, 0x2000, 0x100000 + 0x2000 + 0x5001);
    const result = plan(image);
    const zeroWrites = result.writes.filter((w) => w.gpa >= 0x102000);
    expect(zeroWrites.map((w) => [w.gpa, w.data.length])).toEqual([[0x102000, 0x5001]]);
    expect(zeroWrites.every((w) => w.data.every((b) => b === 0))).toBe(true);
  });

  it('zeroes a multi-megabyte bss in chunks that share one buffer', () => {
    const bssEnd = 0x100000 + 0x2000 + 5 * 1024 * 1024 + 3;
    const result = plan(addressFieldKernel(0, 0x2000, bssEnd));
    const zeroWrites = result.writes.filter((w) => w.gpa >= 0x102000);
    const covered = zeroWrites.reduce((sum, w) => sum + w.data.length, 0);
    expect(covered).toBe(bssEnd - 0x102000);
    expect(new Set(zeroWrites.map((w) => w.data.buffer)).size).toBe(1);
    expect(
      zeroWrites[zeroWrites.length - 1].gpa + zeroWrites[zeroWrites.length - 1].data.length,
    ).toBe(bssEnd);
  });

  const fields = (overrides: Partial<Record<string, number>>): Buffer =>
    rawImage(0x2000, [
      {
        offset: 0x100,
        bytes: multibootHeader({
          addresses: {
            headerAddr: 0x100100,
            loadAddr: 0x100000,
            loadEndAddr: 0,
            bssEndAddr: 0,
            entryAddr: 0x100200,
            ...overrides,
          },
        }),
      },
    ]);

  it('refuses load_addr above header_addr', () => {
    expect(() => plan(fields({ loadAddr: 0x100200 }))).toThrow(
      'Multiboot load_addr 0x100200 is above header_addr 0x100100',
    );
  });

  it('refuses header_addr - load_addr larger than the header offset', () => {
    expect(() => plan(fields({ loadAddr: 0x100000 - 0x1000 }))).toThrow(
      'Multiboot header_addr - load_addr (0x1100) is larger than the header',
    );
  });

  it('refuses load_end_addr below load_addr', () => {
    expect(() => plan(fields({ loadEndAddr: 0xfff00 }))).toThrow(
      'Multiboot load_end_addr 0xfff00 is below load_addr 0x100000',
    );
  });

  it('refuses a load range beyond the end of the file', () => {
    expect(() => plan(fields({ loadEndAddr: 0x103000 }))).toThrow(
      'truncated image: Multiboot load range needs file bytes [0x0, 0x3000), file has 8192',
    );
  });

  it('refuses bss_end_addr below the end of the loaded data', () => {
    expect(() => plan(fields({ bssEndAddr: 0x101000 }))).toThrow(
      'Multiboot bss_end_addr 0x101000 is below the end of the loaded data 0x102000',
    );
  });

  it('refuses an entry_addr outside the loaded range', () => {
    expect(() => plan(fields({ entryAddr: 0x500000 }))).toThrow(
      'entry point 0x500000 is not inside any loaded segment',
    );
  });
});

describe('Multiboot ELF kernels (no address fields)', () => {
  const header = { offset: 0x100, bytes: multibootHeader({ flags: 0b10 }) };

  it('loads each ELF32 PT_LOAD at p_paddr and zeroes p_memsz beyond p_filesz', () => {
    const text = Buffer.alloc(0x300, 0xaa);
    const data = Buffer.alloc(0x40, 0xbb);
    const elf = buildElf({
      elfClass: 32,
      entry: 0x100010,
      segments: [
        { vaddr: 0x100000, data: text },
        { vaddr: 0x101000, data, memsz: 0x1000 },
        { vaddr: 0x200000, type: 4 /* PT_NOTE: not loaded */, data: Buffer.alloc(8, 0xcc) },
      ],
      patches: [header],
    });
    const result = plan(elf);
    expect(result.entry).toBe(0x100010n);
    const memory = guestMemory(result, MEMORY);
    expect(memory.subarray(0x100000, 0x100300)).toEqual(text);
    expect(memory.subarray(0x101000, 0x101040)).toEqual(data);
    const writesAbove1M = result.writes.filter((w) => w.gpa >= 0x100000);
    expect(writesAbove1M.map((w) => [w.gpa, w.data.length])).toEqual([
      [0x100000, 0x300],
      [0x101000, 0x40],
      [0x101040, 0x1000 - 0x40],
    ]);
  });

  it('loads an ELF64 Multiboot kernel at p_paddr, not p_vaddr', () => {
    const code = Buffer.from([0xfa, 0xf4]);
    const elf = buildElf({
      elfClass: 64,
      entry: 0x100000,
      segments: [
        { vaddr: 0x100000, data: code },
        { vaddr: 0xffffffff80200000n, paddr: 0x200000, data: Buffer.alloc(0x20, 0x11) },
      ],
      patches: [header],
    });
    const result = plan(elf);
    expect(result.format).toBe('multiboot');
    expect(result.entry).toBe(0x100000n);
    const memory = guestMemory(result, MEMORY);
    expect(memory.subarray(0x100000, 0x100002)).toEqual(code);
    expect(memory.subarray(0x200000, 0x200020)).toEqual(Buffer.alloc(0x20, 0x11));
  });

  it('moves a virtual e_entry inside a PT_LOAD to its physical address', () => {
    const elf = buildElf({
      elfClass: 64,
      entry: 0xffffffff80100020n,
      segments: [{ vaddr: 0xffffffff80100000n, paddr: 0x100000, data: Buffer.alloc(0x40) }],
      patches: [header],
    });
    const result = plan(elf);
    expect(result.entry).toBe(0x100020n);
    expect(result.bsp.rip).toBe(0x100020n);
  });

  it('refuses an e_entry that is in no loaded segment', () => {
    const elf = buildElf({
      elfClass: 32,
      entry: 0x400000,
      segments: [{ vaddr: 0x100000, data: Buffer.alloc(0x40) }],
      patches: [header],
    });
    expect(() => plan(elf)).toThrow('entry point 0x400000 is not inside any loaded segment');
  });

  it('refuses a physical load address beyond 4 GiB', () => {
    const elf = buildElf({
      elfClass: 64,
      entry: 0x100000,
      segments: [
        { vaddr: 0x100000, data: Buffer.alloc(0x40) },
        { vaddr: 0x100000000n, data: Buffer.alloc(0x40) },
      ],
      patches: [header],
    });
    expect(() => plan(elf)).toThrow(
      'PT_LOAD #1 [0x100000000, 0x100000040) lies beyond 4 GiB; guest RAM is below 3 GiB',
    );
  });
});
