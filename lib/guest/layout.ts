/*
 * The fixed low-memory layout the loader builds for every guest. Everything
 * the loader itself writes lives in LOADER_AREA, which no image segment may
 * touch:
 *
 *   0x01000  PML4                  (ELF64 only)
 *   0x02000  PDPT                  (ELF64 only)
 *   0x03000  4 page directories    (ELF64 only; 2 MiB pages over [0, 4 GiB))
 *   0x07000  GDT: null, boot code, data, other code
 *   0x80000  boot stack, 64 KiB    (ELF64 only; grows down from 0x90000)
 *   0x90000  boot info block, then its memory map, loader name and cmdline
 *            (Linux: boot_params, the "zero page", then the cmdline at 0x91000)
 *   0x9fc00  end: the EBDA, reserved in the memory map as on a PC
 *
 * Linux boots also get an MP table at 0xf0000, in the reserved BIOS area.
 */

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

export const PML4_ADDR = 0x1000;
export const PDPT_ADDR = 0x2000;
export const PAGE_DIRECTORY_ADDR = 0x3000;
/** Four page directories of 512 two-MiB entries cover exactly 4 GiB. */
export const PAGE_DIRECTORY_COUNT = 4;
export const PAGE_TABLES_END = PAGE_DIRECTORY_ADDR + PAGE_DIRECTORY_COUNT * 0x1000;

export const GDT_ADDR = 0x7000;

export const BOOT_STACK_BASE = 0x80000;
export const BOOT_STACK_TOP = 0x90000;
/** 16-byte aligned below the top, as RSP is at a SysV process entry point. */
export const BOOT_STACK_POINTER = BOOT_STACK_TOP - 16;

export const BOOT_INFO_ADDR = 0x90000;
/** The info struct with room for the framebuffer fields of spec 0.6.96 (116 bytes), all zero. */
export const BOOT_INFO_SIZE = 0x80;
export const MMAP_ADDR = 0x90080;
export const LOADER_NAME_ADDR = 0x90100;
export const CMDLINE_ADDR = 0x90200;
/** The boot info area stops where the reserved EBDA starts. */
export const BOOT_INFO_AREA_END = 0x9fc00;

/** [start, end) of the memory the loader owns; image segments must stay out. */
export const LOADER_AREA = { start: 0x1000, end: 0xa0000 } as const;
/** VGA memory and option/BIOS ROMs on a PC: not RAM to a kernel, so no segment may load there. */
export const LEGACY_HOLE = { start: 0xa0000, end: 0x100000 } as const;

/** Where the memory map's reserved ranges sit, as on a PC. */
export const EBDA_START = 0x9fc00;
export const BIOS_ROM_START = 0xf0000;
export const HIGH_MEMORY_START = 0x100000;

/** Linux's boot_params (struct boot_params, one page) takes the boot info block's place. */
export const ZERO_PAGE_ADDR = 0x90000;
export const ZERO_PAGE_SIZE = 0x1000;
/** The Linux command line follows boot_params, up to the EBDA. */
export const LINUX_CMDLINE_ADDR = ZERO_PAGE_ADDR + ZERO_PAGE_SIZE;
/** The MP floating pointer and the configuration table after it, where Linux scans for them. */
export const MP_TABLE_ADDR = BIOS_ROM_START;

/**
 * Above this the backends put no RAM below 4 GiB: the fake vmm maps
 * memory past 3 GiB at 4 GiB (native/fakevmm: kLowmemLimit, kHighmemBase), as
 * bhyve does, leaving the 32-bit MMIO hole (local APIC, I/O APIC) free.
 */
export const LOWMEM_LIMIT = 3 * GiB;
export const HIGHMEM_BASE = 4 * GiB;

export const MIN_MEMORY_SIZE = 2 * MiB;
/** Guest RAM stays below the 32-bit MMIO hole (local APIC, I/O APIC). */
export const MAX_MEMORY_SIZE = LOWMEM_LIMIT;
