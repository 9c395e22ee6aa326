import { gdtFor, gdtWrite } from './descriptors';
import { e820Map } from './e820';
import { linuxEntryState } from './entry_state';
import { BootError, hex } from './errors';
import { bootParamsWrite } from './linux_boot_params';
import type { LinuxKernel } from './linux_kernel';
import { BOOT_INFO_AREA_END, LINUX_CMDLINE_ADDR, LOWMEM_LIMIT } from './layout';
import { mpTableWrite } from './mptable';
import { identityPageTables } from './paging';
import { checkPlacement, containsAddress, segmentWrites } from './segments';
import type { BootOptions, BootPlan, MemoryWrite } from './types';

const PAGE_SIZE = 0x1000;
/** The cmdline area runs from LINUX_CMDLINE_ADDR to the EBDA, one byte kept for the NUL. */
export const MAX_LINUX_CMDLINE_BYTES = BOOT_INFO_AREA_END - LINUX_CMDLINE_ADDR - 1;

function cmdlineWrite(kernel: LinuxKernel, cmdline: string): MemoryWrite {
  const bytes = Buffer.from(cmdline, 'utf8');
  if (bytes.includes(0)) {
    throw new BootError('cmdline contains a NUL character');
  }
  const limit = Math.min(kernel.cmdlineSize, MAX_LINUX_CMDLINE_BYTES);
  if (bytes.length > limit) {
    throw new BootError(
      `cmdline is ${bytes.length} bytes; the kernel takes at most ${limit} (cmdline_size)`,
    );
  }
  return { gpa: LINUX_CMDLINE_ADDR, data: Buffer.concat([bytes, Buffer.alloc(1)]) };
}

/**
 * Where the initrd goes: as high as allowed (below the end of RAM, the
 * 32-bit hole and initrd_addr_max), page-aligned, and above all the kernel
 * needs while it starts, as QEMU and GRUB place it.
 */
export function placeInitrd(kernel: LinuxKernel, size: number, memorySize: number): number {
  const limits = [
    { top: Math.min(memorySize, LOWMEM_LIMIT), name: `the end of RAM (${hex(memorySize)})` },
    { top: kernel.initrdAddrMax + 1, name: `initrd_addr_max (${hex(kernel.initrdAddrMax)})` },
  ];
  const limit = limits.reduce((a, b) => (b.top < a.top ? b : a));
  const addr = Math.floor((limit.top - size) / PAGE_SIZE) * PAGE_SIZE;
  if (size > limit.top || addr < kernel.end) {
    throw new BootError(
      `initrd is ${size} bytes, too big for the ${Math.max(0, limit.top - kernel.end)} bytes between the kernel's end (${hex(kernel.end)}) and ${limit.name}`,
    );
  }
  return addr;
}

/**
 * A Linux boot (bzImage or vmlinux): the kernel at its place, boot_params,
 * the command line, the initrd, an MP table for the vCPUs, identity page
 * tables and a GDT with __BOOT_CS/__BOOT_DS, and vCPU 0 at the 64-bit entry.
 */
export function planLinux(image: Buffer, kernel: LinuxKernel, options: BootOptions): BootPlan {
  const { memorySize } = options;
  checkPlacement(kernel.segments, memorySize);
  if (kernel.end > memorySize) {
    throw new BootError(
      `memory too small for the kernel: it needs memory up to ${hex(kernel.end)} (${kernel.endReason}), have ${hex(memorySize)}`,
    );
  }
  if (!containsAddress(kernel.segments, kernel.entry)) {
    throw new BootError(`entry point ${hex(kernel.entry)} is not inside the loaded kernel`);
  }
  const cmdline = cmdlineWrite(kernel, options.cmdline);

  const writes: MemoryWrite[] = [
    identityPageTables(),
    gdtWrite(gdtFor('linux')),
    cmdline,
    mpTableWrite(options.cpus),
    ...segmentWrites(image, kernel.segments),
  ];
  let initrd: { addr: number; size: number } | undefined;
  if (options.initrd !== undefined) {
    const size = options.initrd.length;
    initrd = { addr: placeInitrd(kernel, size, memorySize), size };
    writes.push({ gpa: initrd.addr, data: Buffer.from(options.initrd) });
  }
  writes.push(
    bootParamsWrite({ kernel, cmdlineAddr: cmdline.gpa, initrd, e820: e820Map(memorySize) }),
  );
  return {
    format: kernel.format,
    entry: kernel.entry,
    writes,
    bsp: linuxEntryState(kernel.entry),
  };
}
