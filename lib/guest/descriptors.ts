import type { SegmentRegister, TableRegister } from '../vmm/registers';
import { GDT_ADDR } from './layout';
import type { MemoryWrite } from './types';

/*
 * Segment descriptors, defined once and used both for the GDT bytes the
 * loader writes and for the hidden segment state of vCPU 0, so the two always
 * agree and a kernel that reloads a selector gets what it already had.
 * `access` is in the VMX access-rights layout of lib/vmm/registers.ts.
 */

export interface Descriptor {
  base: number;
  /** Byte-granular limit, as the segment register holds it. */
  limit: number;
  access: number;
}

const ACCESS_GRANULARITY = 1 << 15;
/** Segment access rights with bit 16 set: the segment is unusable (a null selector). */
export const ACCESS_UNUSABLE = 1 << 16;

/** 32-bit code: G, D, P, S, execute/read, accessed. */
export const CODE32: Descriptor = { base: 0, limit: 0xffffffff, access: 0xc09b };
/** 64-bit code: G, L (D clear, as long mode requires), P, S, execute/read, accessed. */
export const CODE64: Descriptor = { base: 0, limit: 0xffffffff, access: 0xa09b };
/** Flat data: G, B, P, S, read/write, accessed. */
export const DATA: Descriptor = { base: 0, limit: 0xffffffff, access: 0xc093 };

/**
 * GDT slot 1 (selector 0x08) holds the code segment the kernel is entered
 * with: CODE32 for Multiboot, CODE64 for ELF64. Slot 3 (0x18) holds the
 * other one, so a Multiboot kernel can far-jump to 64-bit code once it
 * enables long mode, and an ELF64 kernel can drop back to compatibility mode.
 */
export const BOOT_CODE_SELECTOR = 0x08;
export const DATA_SELECTOR = 0x10;
export const OTHER_CODE_SELECTOR = 0x18;

/** Linux's 64-bit boot protocol wants __BOOT_CS (0x10) and __BOOT_DS (0x18), its own GDT slots. */
export const LINUX_BOOT_CS = 0x10;
export const LINUX_BOOT_DS = 0x18;

export type GdtKind = 'protected' | 'long' | 'linux';

export function gdtFor(kind: GdtKind): Descriptor[] {
  const null_: Descriptor = { base: 0, limit: 0, access: 0 };
  if (kind === 'linux') return [null_, null_, CODE64, DATA];
  return kind === 'protected' ? [null_, CODE32, DATA, CODE64] : [null_, CODE64, DATA, CODE32];
}

/** The 8-byte legacy descriptor for `d`. */
export function encodeDescriptor(d: Descriptor): Buffer {
  const granular = (d.access & ACCESS_GRANULARITY) !== 0;
  const rawLimit = granular ? d.limit >>> 12 : d.limit;
  const bytes = Buffer.alloc(8);
  bytes.writeUInt16LE(rawLimit & 0xffff, 0);
  bytes.writeUInt16LE(d.base & 0xffff, 2);
  bytes[4] = (d.base >>> 16) & 0xff;
  bytes[5] = d.access & 0xff;
  bytes[6] = ((rawLimit >>> 16) & 0x0f) | (((d.access >>> 12) & 0x0f) << 4);
  bytes[7] = (d.base >>> 24) & 0xff;
  return bytes;
}

export function gdtWrite(gdt: readonly Descriptor[]): MemoryWrite {
  return { gpa: GDT_ADDR, data: Buffer.concat(gdt.map(encodeDescriptor)) };
}

export function gdtr(gdt: readonly Descriptor[]): TableRegister {
  return { base: BigInt(GDT_ADDR), limit: gdt.length * 8 - 1 };
}

export function segmentRegister(selector: number, d: Descriptor): SegmentRegister {
  return { selector, base: BigInt(d.base), limit: d.limit, access: d.access };
}
