/*
 * Synthetic Linux images for the loader tests: a bzImage with a setup
 * header, and a vmlinux-like ELF64 with notes. Offsets are written out here
 * from Documentation/arch/x86/boot.rst, not taken from lib/guest.
 */
import { buildElf, type SegmentSpec } from './image_builder';

export interface BzImageSpec {
  setupSects?: number;
  version?: number;
  bootFlag?: number;
  xloadflags?: number;
  relocatable?: boolean;
  prefAddress?: number;
  kernelAlignment?: number;
  initSize?: number;
  cmdlineSize?: number;
  initrdAddrMax?: number;
  /** The protected-mode kernel's bytes. */
  kernel?: Buffer;
  /** Overrides the setup header's length byte (0x201). */
  headerLength?: number;
  /** Overrides syssize (in 16-byte units); defaults to the kernel's size. */
  syssize?: number;
}

export const KERNEL_BYTES = Buffer.alloc(0x3000, 0xcc);
// A recognisable first byte at the 64-bit entry.
KERNEL_BYTES[0x200] = 0xfa;

export function buildBzImage(spec: BzImageSpec = {}): Buffer {
  const setupSects = spec.setupSects ?? 3;
  const kernel = spec.kernel ?? KERNEL_BYTES;
  const setupBytes = ((setupSects === 0 ? 4 : setupSects) + 1) * 512;
  const image = Buffer.alloc(setupBytes + kernel.length);
  image[0x1f1] = setupSects;
  image.writeUInt32LE(spec.syssize ?? Math.ceil(kernel.length / 16), 0x1f4);
  image.writeUInt16LE(0xffff, 0x1fa); // vid_mode
  image.writeUInt16LE(spec.bootFlag ?? 0xaa55, 0x1fe);
  image[0x200] = 0xeb;
  image[0x201] = spec.headerLength ?? 0x6a;
  image.write('HdrS', 0x202, 'latin1');
  image.writeUInt16LE(spec.version ?? 0x020f, 0x206);
  image[0x211] = 0x01; // LOADED_HIGH
  image.writeUInt32LE(0x100000, 0x214);
  image.writeUInt32LE(spec.initrdAddrMax ?? 0x7fffffff, 0x22c);
  image.writeUInt32LE(spec.kernelAlignment ?? 0x200000, 0x230);
  image[0x234] = spec.relocatable === false ? 0 : 1;
  image[0x235] = 21;
  image.writeUInt16LE(spec.xloadflags ?? 0x7f, 0x236);
  image.writeUInt32LE(spec.cmdlineSize ?? 0x7ff, 0x238);
  image.writeUInt32LE(0x100, 0x248); // payload_offset
  image.writeUInt32LE(0x100, 0x24c); // payload_length
  image.writeBigUInt64LE(BigInt(spec.prefAddress ?? 0x1000000), 0x258);
  image.writeUInt32LE(spec.initSize ?? 0x400000, 0x260);
  kernel.copy(image, setupBytes);
  return image;
}

/** One ELF note: namesz, descsz, type, then name and desc, each padded to 4 bytes. */
export function elfNote(name: string, type: number, desc: Buffer | string): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'latin1');
  const descBytes = Buffer.from(desc);
  const pad = (n: number): number => (4 - (n % 4)) % 4;
  const head = Buffer.alloc(12);
  head.writeUInt32LE(nameBytes.length, 0);
  head.writeUInt32LE(descBytes.length, 4);
  head.writeUInt32LE(type, 8);
  return Buffer.concat([
    head,
    nameBytes,
    Buffer.alloc(pad(nameBytes.length)),
    descBytes,
    Buffer.alloc(pad(descBytes.length)),
  ]);
}

export const LINUX_NOTE = elfNote('Linux', 0x100, Buffer.alloc(4));
export const KERNEL_MAP = 0xffffffff80000000n;

/**
 * A vmlinux-like ELF64: text linked at 0xffffffff81000000 loaded at 16 MiB,
 * data after it, a percpu segment linked at 0, and a PT_NOTE with `notes`.
 */
export function buildVmlinux(notes: Buffer[] = [LINUX_NOTE], entry: bigint = 0x1000000n): Buffer {
  const text = Buffer.alloc(0x2000, 0x90);
  text[0] = 0xfa;
  const segments: SegmentSpec[] = [
    { vaddr: KERNEL_MAP + 0x1000000n, paddr: 0x1000000, data: text },
    {
      vaddr: KERNEL_MAP + 0x1200000n,
      paddr: 0x1200000,
      data: Buffer.alloc(0x1000, 1),
      memsz: 0x3000,
    },
    { vaddr: 0, paddr: 0x1400000, data: Buffer.alloc(0x1000, 2) },
  ];
  if (notes.length > 0) {
    segments.push({
      type: 4,
      vaddr: KERNEL_MAP + 0x1001000n,
      paddr: 0x1001000,
      data: Buffer.concat(notes),
    });
  }
  return buildElf({ entry, segments });
}
