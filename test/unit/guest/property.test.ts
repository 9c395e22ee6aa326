import fc from 'fast-check';
import { BootError, planBoot, type BootPlan } from '../../../lib/guest';
import { buildElf, multibootHeader, rawImage } from './image_builder';
import { buildBzImage, buildVmlinux } from './linux_image';

/*
 * Hostile or corrupted images: whatever the bytes, planBoot either returns a
 * plan whose writes all land in guest RAM, or throws a BootError.
 */

const MB = 1024 * 1024;

const seeds: Buffer[] = [
  buildElf({
    entry: 0x100000,
    segments: [
      { vaddr: 0x100000, data: Buffer.alloc(0x80, 0x90) },
      { vaddr: 0x101000, data: Buffer.alloc(0x20, 0x11), memsz: 0x3000 },
    ],
    dataOffset: 0x200,
  }),
  buildElf({
    elfClass: 32,
    entry: 0x100000,
    segments: [{ vaddr: 0x100000, data: Buffer.alloc(0x80, 0x90), memsz: 0x2000 }],
    dataOffset: 0x200,
    patches: [{ offset: 0x100, bytes: multibootHeader({ flags: 3 }) }],
  }),
  rawImage(0x400, [
    {
      offset: 0x20,
      bytes: multibootHeader({
        addresses: {
          headerAddr: 0x100020,
          loadAddr: 0x100000,
          loadEndAddr: 0x100300,
          bssEndAddr: 0x108000,
          entryAddr: 0x100040,
        },
      }),
    },
  ]),
  buildBzImage({ prefAddress: 0x200000, initSize: 0x100000 }),
  buildVmlinux(),
];

const interesting = fc.oneof(
  fc.constantFrom(
    0,
    1,
    0x38,
    0x40,
    0x1000,
    0x9ffff,
    0xa0000,
    0x100000,
    0x1badb002,
    0x7fffffff,
    0x80000000,
    0xfffffff0,
    0xffffffff,
  ),
  fc.nat({ max: 0xffffffff }),
);

const mutation = fc.record({
  offset: fc.oneof(fc.nat({ max: 0x140 }), fc.nat({ max: 0x3ff })),
  width: fc.constantFrom(1, 2, 4, 8),
  value: interesting,
  high: interesting,
});

type Mutation = { offset: number; width: number; value: number; high: number };

function mutate(seed: Buffer, mutations: Mutation[], fixChecksum: boolean): Buffer {
  const image = Buffer.from(seed);
  for (const m of mutations) {
    if (m.offset + m.width > image.length) continue;
    if (m.width === 1) image[m.offset] = m.value & 0xff;
    else if (m.width === 2) image.writeUInt16LE(m.value & 0xffff, m.offset);
    else if (m.width === 4) image.writeUInt32LE(m.value, m.offset);
    else image.writeBigUInt64LE((BigInt(m.high) << 32n) | BigInt(m.value), m.offset);
  }
  if (fixChecksum) {
    // Keep any Multiboot header valid so the mutation reaches the code behind the checksum.
    for (let at = 0; at + 12 <= Math.min(image.length, 8192); at += 4) {
      if (image.readUInt32LE(at) === 0x1badb002) {
        image.writeUInt32LE(-(0x1badb002 + image.readUInt32LE(at + 4)) >>> 0, at + 8);
        break;
      }
    }
  }
  return image;
}

const memorySize = fc.oneof(
  fc.constantFrom(2 * MB, 16 * MB, 3 * 1024 * MB),
  fc.integer({ min: 2 * MB, max: 3 * 1024 * MB }),
);

function checkOutcome(image: Buffer, memory: number): void {
  let plan: BootPlan;
  try {
    plan = planBoot(image, { memorySize: memory, cmdline: 'console=ttyS0', cpus: 2 });
  } catch (error) {
    if (!(error instanceof BootError)) throw error;
    expect(error.message).not.toContain('\n');
    return;
  }
  for (const w of plan.writes) {
    expect(Number.isSafeInteger(w.gpa)).toBe(true);
    expect(w.gpa).toBeGreaterThanOrEqual(0);
    expect(w.gpa + w.data.length).toBeLessThanOrEqual(memory);
  }
  const covered = new Set(plan.writes.map((w) => w.gpa));
  expect(covered.size).toBe(plan.writes.length);
}

describe('planBoot on hostile images', () => {
  it('never throws anything but BootError nor writes outside guest RAM (random bytes)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 0x3000 }),
        fc.boolean(),
        memorySize,
        (bytes, elfMagic, memory) => {
          const image = Buffer.from(bytes);
          if (elfMagic && image.length >= 6) {
            image.write('\x7fELF', 0, 'latin1');
            image[4] = 1 + (image[4] & 1);
            image[5] = 1;
            image[6] = 1;
          }
          checkOutcome(image, memory);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never throws anything but BootError nor writes outside guest RAM (mutated kernels)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds.keys()),
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        memorySize,
        (seedIndex, mutations, fixChecksum, memory) => {
          checkOutcome(mutate(seeds[seedIndex], mutations, fixChecksum), memory);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('accepts every unmutated seed', () => {
    for (const seed of seeds) checkOutcome(seed, 32 * MB);
    expect(
      seeds.map((s) => planBoot(s, { memorySize: 32 * MB, cmdline: '', cpus: 1 }).format),
    ).toEqual(['elf64', 'multiboot', 'multiboot', 'bzimage', 'vmlinux']);
  });
});
