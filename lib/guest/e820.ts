import { EBDA_START, HIGH_MEMORY_START, HIGHMEM_BASE, LOWMEM_LIMIT } from './layout';

/** e820 entry types (Linux's E820_TYPE_*, the ACPI address range types). */
export const E820_RAM = 1;
export const E820_RESERVED = 2;

/** One e820 entry: [addr, addr + size) of `type`. */
export interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

/** The size of one entry in boot_params.e820_table (struct boot_e820_entry, packed). */
export const E820_ENTRY_SIZE = 20;

/**
 * The PC memory map of a guest with `memorySize` bytes of RAM: conventional
 * memory up to the EBDA, the EBDA/VGA/ROM area up to 1 MiB reserved, RAM from
 * 1 MiB to the end of low memory, and what exceeds LOWMEM_LIMIT at 4 GiB,
 * where the backends map it (today's memory limit keeps RAM below it).
 */
export function e820Map(memorySize: number): E820Entry[] {
  const lowEnd = Math.min(memorySize, LOWMEM_LIMIT);
  const map: E820Entry[] = [
    { addr: 0, size: EBDA_START, type: E820_RAM },
    { addr: EBDA_START, size: HIGH_MEMORY_START - EBDA_START, type: E820_RESERVED },
    { addr: HIGH_MEMORY_START, size: lowEnd - HIGH_MEMORY_START, type: E820_RAM },
  ];
  if (memorySize > LOWMEM_LIMIT) {
    map.push({ addr: HIGHMEM_BASE, size: memorySize - LOWMEM_LIMIT, type: E820_RAM });
  }
  return map;
}

/** The entries as boot_params.e820_table holds them: u64 addr, u64 size, u32 type. */
export function encodeE820(map: readonly E820Entry[]): Buffer {
  const bytes = Buffer.alloc(map.length * E820_ENTRY_SIZE);
  map.forEach((entry, i) => {
    const at = i * E820_ENTRY_SIZE;
    bytes.writeBigUInt64LE(BigInt(entry.addr), at);
    bytes.writeBigUInt64LE(BigInt(entry.size), at + 8);
    bytes.writeUInt32LE(entry.type, at + 16);
  });
  return bytes;
}
