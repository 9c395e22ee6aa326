import { BootError } from './errors';
import {
  BIOS_ROM_START,
  BOOT_INFO_ADDR,
  BOOT_INFO_AREA_END,
  CMDLINE_ADDR,
  EBDA_START,
  HIGH_MEMORY_START,
  KiB,
  LEGACY_HOLE,
  LOADER_NAME_ADDR,
  MMAP_ADDR,
} from './layout';
import type { MemoryWrite } from './types';

export const BOOT_LOADER_NAME = 'vmm-gdbstub';

/** Multiboot info `flags` bits the loader sets. */
export const INFO_FLAG_MEMORY = 1 << 0;
export const INFO_FLAG_CMDLINE = 1 << 2;
export const INFO_FLAG_MMAP = 1 << 6;
export const INFO_FLAG_LOADER_NAME = 1 << 9;

/** Memory map entry types. */
export const MMAP_AVAILABLE = 1;
export const MMAP_RESERVED = 2;

/** Each entry's `size` field counts the 20 bytes after it, as GRUB and QEMU write it. */
const MMAP_ENTRY_SIZE = 20;

/** Offsets of the info struct fields the loader fills (Multiboot 0.6.96, section 3.3). */
const INFO = {
  flags: 0,
  memLower: 4,
  memUpper: 8,
  cmdline: 16,
  mmapLength: 44,
  mmapAddr: 48,
  bootLoaderName: 64,
} as const;

export const MAX_CMDLINE_BYTES = BOOT_INFO_AREA_END - CMDLINE_ADDR - 1;

/** [base, base + length) of one memory map entry. */
export interface MemoryRange {
  base: number;
  length: number;
  type: number;
}

/** The PC-like map: low RAM, EBDA, BIOS ROM, then everything from 1 MiB up. */
export function memoryMap(memorySize: number): MemoryRange[] {
  return [
    { base: 0, length: EBDA_START, type: MMAP_AVAILABLE },
    { base: EBDA_START, length: LEGACY_HOLE.start - EBDA_START, type: MMAP_RESERVED },
    { base: BIOS_ROM_START, length: HIGH_MEMORY_START - BIOS_ROM_START, type: MMAP_RESERVED },
    { base: HIGH_MEMORY_START, length: memorySize - HIGH_MEMORY_START, type: MMAP_AVAILABLE },
  ];
}

/**
 * The Multiboot v1 information block and what it points to (memory map,
 * loader name, cmdline), as one write covering [BOOT_INFO_ADDR, end of cmdline].
 */
export function bootInfoWrite(memorySize: number, cmdline: string): MemoryWrite {
  const cmdlineBytes = Buffer.from(cmdline, 'utf8');
  if (cmdlineBytes.includes(0)) {
    throw new BootError('cmdline contains a NUL character');
  }
  if (cmdlineBytes.length > MAX_CMDLINE_BYTES) {
    throw new BootError(
      `cmdline is ${cmdlineBytes.length} bytes; at most ${MAX_CMDLINE_BYTES} fit in the boot info area`,
    );
  }
  const area = Buffer.alloc(CMDLINE_ADDR - BOOT_INFO_ADDR + cmdlineBytes.length + 1);
  const at = (gpa: number): number => gpa - BOOT_INFO_ADDR;

  const map = memoryMap(memorySize);
  map.forEach((range, i) => {
    const entry = at(MMAP_ADDR) + i * (MMAP_ENTRY_SIZE + 4);
    area.writeUInt32LE(MMAP_ENTRY_SIZE, entry);
    area.writeBigUInt64LE(BigInt(range.base), entry + 4);
    area.writeBigUInt64LE(BigInt(range.length), entry + 12);
    area.writeUInt32LE(range.type, entry + 20);
  });
  area.write(`${BOOT_LOADER_NAME}\0`, at(LOADER_NAME_ADDR), 'latin1');
  cmdlineBytes.copy(area, at(CMDLINE_ADDR));

  const info = at(BOOT_INFO_ADDR);
  area.writeUInt32LE(
    INFO_FLAG_MEMORY | INFO_FLAG_CMDLINE | INFO_FLAG_MMAP | INFO_FLAG_LOADER_NAME,
    info + INFO.flags,
  );
  // Conventional memory stops at the EBDA: 639 KiB.
  area.writeUInt32LE(EBDA_START / KiB, info + INFO.memLower);
  area.writeUInt32LE(Math.floor((memorySize - HIGH_MEMORY_START) / KiB), info + INFO.memUpper);
  area.writeUInt32LE(CMDLINE_ADDR, info + INFO.cmdline);
  area.writeUInt32LE(map.length * (MMAP_ENTRY_SIZE + 4), info + INFO.mmapLength);
  area.writeUInt32LE(MMAP_ADDR, info + INFO.mmapAddr);
  area.writeUInt32LE(LOADER_NAME_ADDR, info + INFO.bootLoaderName);
  return { gpa: BOOT_INFO_ADDR, data: area };
}
