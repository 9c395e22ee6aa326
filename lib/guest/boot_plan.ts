import { bootInfoWrite } from './boot_info';
import { gdtFor, gdtWrite } from './descriptors';
import { hasElfMagic, parseElf, type ElfFile } from './elf';
import { longModeEntryState, multibootEntryState } from './entry_state';
import { BootError, hex } from './errors';
import { MAX_MEMORY_SIZE, MIN_MEMORY_SIZE } from './layout';
import { planLinux } from './linux_boot';
import { hasBzImageSignature, parseBzImage } from './linux_bzimage';
import { isLinuxVmlinux, parseVmlinux } from './linux_vmlinux';
import {
  addressFieldSegment,
  findMultiboot2Header,
  findMultibootHeader,
  type MultibootHeader,
} from './multiboot';
import { identityPageTables } from './paging';
import {
  checkPlacement,
  containsAddress,
  loadSegment,
  segmentWrites,
  type LoadSegment,
} from './segments';
import type { BootOptions, BootPlan, MemoryWrite } from './types';

/** The xAPIC has 8-bit IDs and 0xFF is broadcast. */
const MAX_CPUS = 255;

/**
 * Turns a kernel image into a boot plan: what to write into guest RAM and
 * vCPU 0's initial registers. A Linux bzImage (its "HdrS" setup header) is
 * booted by the Linux boot protocol; otherwise a Multiboot v1 header wins
 * over the ELF headers (as with QEMU's -kernel); an x86-64 ELF executable
 * is a Linux vmlinux when its notes say so, else it is entered in long mode
 * as a plain ELF64 kernel. Does no I/O; throws BootError on any problem.
 */
export function planBoot(image: Buffer, options: BootOptions): BootPlan {
  checkOptions(image, options);
  if (hasBzImageSignature(image)) return planLinux(image, parseBzImage(image), options);

  const multiboot = findMultibootHeader(image);
  if (multiboot !== undefined) {
    refuseInitrd(options, 'a Multiboot kernel');
    return planMultiboot(image, multiboot, options, bootInfo(options));
  }

  const multiboot2At = findMultiboot2Header(image);
  if (multiboot2At !== undefined) {
    throw new BootError(
      `Multiboot2 header at offset ${hex(multiboot2At)} but no Multiboot v1 header; only Multiboot v1 is supported`,
    );
  }
  if (!hasElfMagic(image)) {
    throw new BootError(
      'not a kernel: no ELF magic and no Multiboot header in the first 8192 bytes',
    );
  }
  const elf = parseElf(image);
  if (elf.elfClass === 32) {
    throw new BootError(
      '32-bit ELF without a Multiboot header: only Multiboot kernels may be 32-bit',
    );
  }
  if (isLinuxVmlinux(image, elf)) return planLinux(image, parseVmlinux(elf), options);
  refuseInitrd(options, 'a plain ELF64 kernel');
  return planElf64(image, elf, options, bootInfo(options));
}

function bootInfo(options: BootOptions): MemoryWrite {
  return bootInfoWrite(options.memorySize, options.cmdline);
}

function refuseInitrd(options: BootOptions, kind: string): void {
  if (options.initrd !== undefined) {
    throw new BootError(`an initrd is for Linux kernels; this image is ${kind}`);
  }
}

function checkOptions(image: Buffer, options: BootOptions): void {
  if (!Buffer.isBuffer(image)) {
    throw new BootError('"image" is not a Buffer');
  }
  if (typeof options !== 'object' || options === null) {
    throw new BootError('"options" is not an object');
  }
  const { memorySize, cmdline, cpus } = options;
  if (
    !Number.isSafeInteger(memorySize) ||
    memorySize < MIN_MEMORY_SIZE ||
    memorySize > MAX_MEMORY_SIZE
  ) {
    throw new BootError(
      `"memorySize" must be an integer from ${MIN_MEMORY_SIZE} (2 MiB) to ${MAX_MEMORY_SIZE} (3 GiB), got ${String(memorySize)}`,
    );
  }
  if (typeof cmdline !== 'string') {
    throw new BootError('"cmdline" is not a string');
  }
  if (!Number.isSafeInteger(cpus) || cpus < 1 || cpus > MAX_CPUS) {
    throw new BootError(`"cpus" must be an integer from 1 to ${MAX_CPUS}, got ${String(cpus)}`);
  }
  if (options.initrd !== undefined && !Buffer.isBuffer(options.initrd)) {
    throw new BootError('"initrd" is not a Buffer');
  }
  if (options.initrd?.length === 0) {
    throw new BootError('initrd is empty');
  }
}

function planMultiboot(
  image: Buffer,
  header: MultibootHeader,
  options: BootOptions,
  info: MemoryWrite,
): BootPlan {
  let segments: LoadSegment[];
  let entry: bigint;
  if (header.addresses !== undefined) {
    segments = [addressFieldSegment(image, header.offset, header.addresses)];
    entry = BigInt(header.addresses.entryAddr);
  } else {
    if (!hasElfMagic(image)) {
      throw new BootError(
        `Multiboot header at offset ${hex(header.offset)} has no address fields (flag bit 16) and the image is not ELF`,
      );
    }
    const elf = parseElf(image);
    segments = elf.loads.map((h) =>
      loadSegment(`PT_LOAD #${h.index}`, h.paddr, h.offset, h.filesz, h.memsz),
    );
    entry = physicalEntry(elf);
  }
  checkPlacement(segments, options.memorySize);
  checkEntry(segments, entry);
  const gdt = gdtFor('protected');
  return {
    format: 'multiboot',
    entry,
    writes: [gdtWrite(gdt), info, ...segmentWrites(image, segments)],
    bsp: multibootEntryState(entry),
  };
}

/**
 * Paging is off at a Multiboot entry, so an entry given as a virtual address
 * inside a PT_LOAD is moved to that segment's physical address, as GRUB 2
 * does for higher-half kernels. Otherwise e_entry is taken as physical.
 */
function physicalEntry(elf: ElfFile): bigint {
  const holder = elf.loads.find((h) => elf.entry >= h.vaddr && elf.entry < h.vaddr + h.memsz);
  return holder === undefined ? elf.entry : holder.paddr + (elf.entry - holder.vaddr);
}

function checkEntry(segments: readonly LoadSegment[], entry: bigint): void {
  if (!containsAddress(segments, entry)) {
    throw new BootError(`entry point ${hex(entry)} is not inside any loaded segment`);
  }
}

function planElf64(image: Buffer, elf: ElfFile, options: BootOptions, info: MemoryWrite): BootPlan {
  const segments = elf.loads.map((h) => {
    const name = `PT_LOAD #${h.index}`;
    // Our page tables map [0, 4 GiB) 1:1, so a segment is reachable only at its physical address.
    if (h.vaddr !== h.paddr) {
      throw new BootError(
        `${name} is linked at virtual ${hex(h.vaddr)} but loads at physical ${hex(h.paddr)}; a plain ELF64 kernel runs on identity page tables and needs p_vaddr == p_paddr (higher-half kernels need a Multiboot header)`,
      );
    }
    return loadSegment(name, h.paddr, h.offset, h.filesz, h.memsz);
  });
  checkPlacement(segments, options.memorySize);
  checkEntry(segments, elf.entry);
  const gdt = gdtFor('long');
  return {
    format: 'elf64',
    entry: elf.entry,
    writes: [identityPageTables(), gdtWrite(gdt), info, ...segmentWrites(image, segments)],
    bsp: longModeEntryState(elf.entry),
  };
}
