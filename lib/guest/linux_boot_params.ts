import { encodeE820, type E820Entry } from './e820';
import type { LinuxKernel } from './linux_kernel';
import {
  HDR,
  HEAP_END_PTR,
  LOADFLAG_CAN_USE_HEAP,
  SETUP_HEADER_START,
  TYPE_OF_LOADER_UNDEFINED,
} from './linux_setup_header';
import { ZERO_PAGE_ADDR, ZERO_PAGE_SIZE } from './layout';
import type { MemoryWrite } from './types';

/** Offsets in struct boot_params (arch/x86/include/uapi/asm/bootparam.h) outside the setup header. */
export const BOOT_PARAMS = {
  screenInfo: 0x000,
  acpiRsdpAddr: 0x070,
  extRamdiskImage: 0x0c0,
  extRamdiskSize: 0x0c4,
  extCmdLinePtr: 0x0c8,
  e820Entries: 0x1e8,
  /** Non-zero tells the kernel the loader did not zero the page; ours is zeroed. */
  sentinel: 0x1ef,
  e820Table: 0x2d0,
} as const;

/** boot_params.e820_table has room for this many entries. */
export const E820_MAX_ENTRIES = 128;

export interface BootParamsInput {
  kernel: LinuxKernel;
  cmdlineAddr: number;
  initrd?: { addr: number; size: number };
  e820: readonly E820Entry[];
}

const low32 = (value: number): number => value % 2 ** 32;
const high32 = (value: number): number => Math.floor(value / 2 ** 32);

/**
 * boot_params, the "zero page": all zero (no screen_info, no ACPI RSDP, no
 * EDD), the kernel's setup header copied in at 0x1f1, then what the loader
 * fills in: its type, CAN_USE_HEAP, the command line, the initrd and the
 * e820 map. 64-bit values are split into the field and its ext_ high half.
 */
export function bootParamsWrite(input: BootParamsInput): MemoryWrite {
  const page = Buffer.alloc(ZERO_PAGE_SIZE);
  input.kernel.setupHeader.copy(page, SETUP_HEADER_START);

  page[HDR.typeOfLoader] = TYPE_OF_LOADER_UNDEFINED;
  page[HDR.loadflags] |= LOADFLAG_CAN_USE_HEAP;
  page.writeUInt16LE(HEAP_END_PTR, HDR.heapEndPtr);
  page.writeUInt32LE(input.kernel.segments[0].gpa, HDR.code32Start);
  page.writeUInt32LE(low32(input.cmdlineAddr), HDR.cmdLinePtr);
  page.writeUInt32LE(high32(input.cmdlineAddr), BOOT_PARAMS.extCmdLinePtr);
  const initrd = input.initrd ?? { addr: 0, size: 0 };
  page.writeUInt32LE(low32(initrd.addr), HDR.ramdiskImage);
  page.writeUInt32LE(high32(initrd.addr), BOOT_PARAMS.extRamdiskImage);
  page.writeUInt32LE(low32(initrd.size), HDR.ramdiskSize);
  page.writeUInt32LE(high32(initrd.size), BOOT_PARAMS.extRamdiskSize);

  const e820 = input.e820.slice(0, E820_MAX_ENTRIES);
  page[BOOT_PARAMS.e820Entries] = e820.length;
  encodeE820(e820).copy(page, BOOT_PARAMS.e820Table);
  return { gpa: ZERO_PAGE_ADDR, data: page };
}
