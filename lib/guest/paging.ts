import { PAGE_DIRECTORY_ADDR, PAGE_DIRECTORY_COUNT, PDPT_ADDR, PML4_ADDR } from './layout';
import type { MemoryWrite } from './types';

const PRESENT = 1n << 0n;
const WRITABLE = 1n << 1n;
const PAGE_SIZE_2M = 1n << 7n;
const ENTRIES = 512;

/**
 * Identity page tables for [0, 4 GiB) with 2 MiB pages: PML4[0] -> PDPT,
 * PDPT[0..3] -> four page directories. One write covering PML4 through the
 * last page directory (they are contiguous in the layout).
 */
export function identityPageTables(): MemoryWrite {
  const tables = Buffer.alloc(PAGE_DIRECTORY_ADDR + PAGE_DIRECTORY_COUNT * 0x1000 - PML4_ADDR);
  const entry = (tableAddr: number, index: number, value: bigint): void => {
    tables.writeBigUInt64LE(value, tableAddr - PML4_ADDR + index * 8);
  };
  entry(PML4_ADDR, 0, BigInt(PDPT_ADDR) | PRESENT | WRITABLE);
  for (let dir = 0; dir < PAGE_DIRECTORY_COUNT; dir++) {
    const dirAddr = PAGE_DIRECTORY_ADDR + dir * 0x1000;
    entry(PDPT_ADDR, dir, BigInt(dirAddr) | PRESENT | WRITABLE);
    for (let i = 0; i < ENTRIES; i++) {
      const frame = BigInt(dir * ENTRIES + i) << 21n;
      entry(dirAddr, i, frame | PRESENT | WRITABLE | PAGE_SIZE_2M);
    }
  }
  return { gpa: PML4_ADDR, data: tables };
}
