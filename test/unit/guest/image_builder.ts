/*
 * Builds synthetic kernel images for the loader tests: ELF32/ELF64
 * executables, Multiboot v1 headers, and raw images with patches.
 */
import type { BootPlan } from '../../../lib/guest';

export const MB_MAGIC = 0x1badb002;

export interface SegmentSpec {
  vaddr: number | bigint;
  /** Defaults to vaddr. */
  paddr?: number | bigint;
  data?: Buffer;
  /** Defaults to data.length. */
  memsz?: number | bigint;
  /** Defaults to PT_LOAD (1). */
  type?: number;
  /** Overrides the file offset the builder would pick. */
  offset?: number | bigint;
  /** Overrides p_filesz (defaults to data.length). */
  filesz?: number | bigint;
}

export interface Patch {
  offset: number;
  bytes: Buffer;
}

export interface ElfSpec {
  elfClass?: 32 | 64;
  entry: number | bigint;
  segments: SegmentSpec[];
  machine?: number;
  type?: number;
  /** Where segment data starts in the file. */
  dataOffset?: number;
  /** Bytes written over the finished file (e.g. a Multiboot header). */
  patches?: Patch[];
}

export function buildElf(spec: ElfSpec): Buffer {
  const is64 = (spec.elfClass ?? 64) === 64;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const dataOffset = spec.dataOffset ?? 0x1000;
  let cursor = dataOffset;
  const placed = spec.segments.map((s) => {
    const data = s.data ?? Buffer.alloc(0);
    const offset = s.offset ?? cursor;
    cursor += data.length;
    return { ...s, data, offset };
  });
  const file = Buffer.alloc(Math.max(cursor, ehsize + phentsize * spec.segments.length));

  file.write('\x7fELF', 0, 'latin1');
  file[4] = is64 ? 2 : 1;
  file[5] = 1;
  file[6] = 1;
  file.writeUInt16LE(spec.type ?? 2, 16);
  file.writeUInt16LE(spec.machine ?? (is64 ? 62 : 3), 18);
  file.writeUInt32LE(1, 20);
  if (is64) {
    file.writeBigUInt64LE(BigInt(spec.entry), 24);
    file.writeBigUInt64LE(BigInt(ehsize), 32);
    file.writeUInt16LE(ehsize, 52);
    file.writeUInt16LE(phentsize, 54);
    file.writeUInt16LE(spec.segments.length, 56);
  } else {
    file.writeUInt32LE(Number(spec.entry), 24);
    file.writeUInt32LE(ehsize, 28);
    file.writeUInt16LE(ehsize, 40);
    file.writeUInt16LE(phentsize, 42);
    file.writeUInt16LE(spec.segments.length, 44);
  }

  placed.forEach((s, i) => {
    const at = ehsize + i * phentsize;
    const paddr = BigInt(s.paddr ?? s.vaddr);
    const filesz = BigInt(s.filesz ?? s.data.length);
    const memsz = BigInt(s.memsz ?? s.data.length);
    file.writeUInt32LE(s.type ?? 1, at);
    if (is64) {
      file.writeUInt32LE(5, at + 4);
      file.writeBigUInt64LE(BigInt(s.offset), at + 8);
      file.writeBigUInt64LE(BigInt(s.vaddr), at + 16);
      file.writeBigUInt64LE(paddr, at + 24);
      file.writeBigUInt64LE(filesz, at + 32);
      file.writeBigUInt64LE(memsz, at + 40);
      file.writeBigUInt64LE(0x1000n, at + 48);
    } else {
      file.writeUInt32LE(Number(s.offset), at + 4);
      file.writeUInt32LE(Number(s.vaddr), at + 8);
      file.writeUInt32LE(Number(paddr), at + 12);
      file.writeUInt32LE(Number(filesz), at + 16);
      file.writeUInt32LE(Number(memsz), at + 20);
      file.writeUInt32LE(5, at + 24);
      file.writeUInt32LE(0x1000, at + 28);
    }
    if (s.data.length > 0 && s.offset === Number(s.offset)) s.data.copy(file, Number(s.offset));
  });
  for (const patch of spec.patches ?? []) patch.bytes.copy(file, patch.offset);
  return file;
}

export interface AddressFieldsSpec {
  headerAddr: number;
  loadAddr: number;
  loadEndAddr: number;
  bssEndAddr: number;
  entryAddr: number;
}

export interface MultibootHeaderSpec {
  flags?: number;
  /** Defaults to the correct checksum. */
  checksum?: number;
  /** Written (and flag bit 16 set) when given. */
  addresses?: AddressFieldsSpec;
}

export function multibootHeader(spec: MultibootHeaderSpec = {}): Buffer {
  const flags = ((spec.flags ?? 0) | (spec.addresses ? 1 << 16 : 0)) >>> 0;
  const header = Buffer.alloc(spec.addresses ? 32 : 12);
  header.writeUInt32LE(MB_MAGIC, 0);
  header.writeUInt32LE(flags, 4);
  header.writeUInt32LE(spec.checksum ?? -(MB_MAGIC + flags) >>> 0, 8);
  if (spec.addresses) {
    const a = spec.addresses;
    [a.headerAddr, a.loadAddr, a.loadEndAddr, a.bssEndAddr, a.entryAddr].forEach((v, i) =>
      header.writeUInt32LE(v, 12 + 4 * i),
    );
  }
  return header;
}

/** A raw (non-ELF) image of `size` bytes, filled with 0x90, with patches applied. */
export function rawImage(size: number, patches: Patch[] = []): Buffer {
  const image = Buffer.alloc(size, 0x90);
  for (const patch of patches) patch.bytes.copy(image, patch.offset);
  return image;
}

/** Guest RAM after applying every write of the plan; throws if a write falls outside it. */
export function guestMemory(plan: BootPlan, memorySize: number): Buffer {
  const memory = Buffer.alloc(memorySize);
  for (const w of plan.writes) {
    if (w.gpa < 0 || w.gpa + w.data.length > memorySize) {
      throw new Error(`write [${w.gpa}, ${w.gpa + w.data.length}) outside guest RAM`);
    }
    w.data.copy(memory, w.gpa);
  }
  return memory;
}

/** Walks 4-level page tables with 2 MiB or 4 KiB leaves; undefined when not mapped. */
export function translate(memory: Buffer, cr3: bigint, gva: bigint): bigint | undefined {
  const addrMask = 0x000ffffffffff000n;
  let table = cr3 & addrMask;
  const shifts = [39n, 30n, 21n, 12n];
  for (let level = 0; level < shifts.length; level++) {
    const index = (gva >> shifts[level]) & 0x1ffn;
    const entry = memory.readBigUInt64LE(Number(table + index * 8n));
    if ((entry & 1n) === 0n) return undefined;
    const isLeaf = level === 3 || ((level === 1 || level === 2) && (entry & 0x80n) !== 0n);
    if (isLeaf) {
      const pageMask = (1n << shifts[level]) - 1n;
      return (entry & addrMask & ~pageMask) | (gva & pageMask);
    }
    table = entry & addrMask;
  }
  return undefined;
}

/** Reads a NUL-terminated string from guest memory. */
export function cString(memory: Buffer, gpa: number): string {
  const end = memory.indexOf(0, gpa);
  return memory.toString('utf8', gpa, end);
}
