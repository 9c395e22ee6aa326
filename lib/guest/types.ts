import type { RegisterFile } from '../vmm/registers';

export interface BootOptions {
  /** Bytes of guest RAM, starting at guest-physical address 0; at least 2 MiB, at most 3 GiB. */
  memorySize: number;
  /** Kernel command line, passed NUL-terminated in the boot info block. */
  cmdline: string;
  /** vCPU count. Only vCPU 0 is in the plan; the others wait for INIT/SIPI. */
  cpus: number;
  /** Linux only: the initial RAM disk, placed as high as the kernel's header allows. */
  initrd?: Buffer;
}

/**
 * Bytes to copy into guest RAM at `gpa`. `data` may share storage with other
 * writes of the same plan (long zero runs reuse one zeroed chunk): read it,
 * never modify it.
 */
export interface MemoryWrite {
  gpa: number;
  data: Buffer;
}

export interface BootPlan {
  format: 'multiboot' | 'elf64' | 'bzimage' | 'vmlinux';
  /** Where vCPU 0 starts: a physical address (Multiboot) or an identity-mapped one (ELF64, Linux). */
  entry: bigint;
  /**
   * Every byte the loader puts into guest RAM: image segments, zeroed bss,
   * boot info, GDT, page tables; for Linux also boot_params, the command
   * line, the initrd and the MP table.
   */
  writes: MemoryWrite[];
  /** Complete initial state of vCPU 0. */
  bsp: RegisterFile;
}
