import { BootError, hex } from './errors';
import type { ElfFile } from './elf';
import type { LinuxKernel } from './linux_kernel';
import {
  BOOT_FLAG,
  BUILT_PROTOCOL_VERSION,
  DEFAULT_CMDLINE_SIZE,
  DEFAULT_INITRD_ADDR_MAX,
  HDR,
  HEADER_MAGIC,
  LOADFLAG_LOADED_HIGH,
  SETUP_HEADER_START,
  XLF_KERNEL_64,
} from './linux_setup_header';
import { loadSegment } from './segments';

/*
 * An uncompressed Linux kernel (`vmlinux`) is told apart from other ELF64
 * kernels by its ELF notes, which sit in a PT_NOTE segment and so survive
 * stripping: a note owned by "Linux" (the build-salt note every vmlinux has
 * had since Linux 4.18, and the LTO note), or Xen's guest-OS note saying
 * "linux" (older kernels built with Xen support).
 */

const NOTE_HEADER_SIZE = 12;
const XEN_ELFNOTE_GUEST_OS = 6;
/** The kernel's link base, __START_KERNEL_map: its virtual addresses start here. */
const KERNEL_MAP_BASE = 0xffffffff80000000n;
/** 2.15's header ends at 0x26c: the jump's offset byte is 0x26c - 0x202. */
const BUILT_HEADER_END = 0x26c;
const KERNEL_ALIGNMENT = 0x200000;

interface Note {
  name: string;
  type: number;
  desc: Buffer;
}

/** The notes of every PT_NOTE that lies inside the file; a malformed one ends its segment's list. */
function readNotes(image: Buffer, elf: ElfFile): Note[] {
  const notes: Note[] = [];
  // Arithmetic, not bitwise: note sizes are untrusted u32s and `&` would wrap them negative.
  const align4 = (n: number): number => Math.ceil(n / 4) * 4;
  for (const range of elf.notes) {
    const end = range.offset + range.size;
    if (end > BigInt(image.length)) continue;
    let at = Number(range.offset);
    while (at + NOTE_HEADER_SIZE <= Number(end)) {
      const namesz = image.readUInt32LE(at);
      const descsz = image.readUInt32LE(at + 4);
      const type = image.readUInt32LE(at + 8);
      const nameAt = at + NOTE_HEADER_SIZE;
      const descAt = nameAt + align4(namesz);
      const next = descAt + align4(descsz);
      if (next > Number(end)) break;
      const name = image.toString('latin1', nameAt, nameAt + namesz).replace(/\0+$/, '');
      notes.push({ name, type, desc: image.subarray(descAt, descAt + descsz) });
      at = next;
    }
  }
  return notes;
}

/** Whether a parsed ELF64 executable is a Linux kernel (see the notes above). */
export function isLinuxVmlinux(image: Buffer, elf: ElfFile): boolean {
  if (elf.elfClass !== 64) return false;
  return readNotes(image, elf).some(
    (note) =>
      note.name === 'Linux' ||
      (note.name === 'Xen' &&
        note.type === XEN_ELFNOTE_GUEST_OS &&
        note.desc.toString('latin1').replace(/\0+$/, '') === 'linux'),
  );
}

/**
 * e_entry is startup_64's physical address in current kernels (the linker
 * script's ENTRY(phys_startup_64)); a virtual one, in the kernel map, is
 * converted through the PT_LOAD that holds it.
 */
function physicalEntry(elf: ElfFile): bigint {
  if (elf.entry < KERNEL_MAP_BASE) return elf.entry;
  const holder = elf.loads.find((h) => elf.entry >= h.vaddr && elf.entry < h.vaddr + h.memsz);
  if (holder === undefined) {
    throw new BootError(`vmlinux entry point ${hex(elf.entry)} is not inside any PT_LOAD`);
  }
  return holder.paddr + (elf.entry - holder.vaddr);
}

/** The setup header a bzImage would carry, for boot_params: a vmlinux has none. */
function builtSetupHeader(start: number, end: number): Buffer {
  const header = Buffer.alloc(BUILT_HEADER_END - SETUP_HEADER_START);
  const at = (offset: number): number => offset - SETUP_HEADER_START;
  header.writeUInt16LE(BOOT_FLAG, at(HDR.bootFlag));
  header[at(HDR.jumpOffset) - 1] = 0xeb; // a short jmp over the header, as in a bzImage
  header[at(HDR.jumpOffset)] = BUILT_HEADER_END - HDR.header;
  header.writeUInt32LE(HEADER_MAGIC, at(HDR.header));
  header.writeUInt16LE(BUILT_PROTOCOL_VERSION, at(HDR.version));
  header[at(HDR.loadflags)] = LOADFLAG_LOADED_HIGH;
  header.writeUInt32LE(start, at(HDR.code32Start));
  header.writeUInt32LE(DEFAULT_INITRD_ADDR_MAX, at(HDR.initrdAddrMax));
  header.writeUInt32LE(KERNEL_ALIGNMENT, at(HDR.kernelAlignment));
  header.writeUInt16LE(XLF_KERNEL_64, at(HDR.xloadflags));
  header.writeUInt32LE(DEFAULT_CMDLINE_SIZE, at(HDR.cmdlineSize));
  header.writeBigUInt64LE(BigInt(start), at(HDR.prefAddress));
  header.writeUInt32LE(end - start, at(HDR.initSize));
  return header;
}

/** Places a vmlinux: its PT_LOAD segments at their physical addresses (p_paddr). */
export function parseVmlinux(elf: ElfFile): LinuxKernel {
  const segments = elf.loads.map((h) =>
    loadSegment(`PT_LOAD #${h.index}`, h.paddr, h.offset, h.filesz, h.memsz),
  );
  const start = Math.min(...segments.map((s) => s.gpa));
  const end = Math.max(...segments.map((s) => s.gpa + s.memSize));
  return {
    format: 'vmlinux',
    segments,
    entry: physicalEntry(elf),
    end,
    endReason: 'the end of its last PT_LOAD',
    setupHeader: builtSetupHeader(start, end),
    cmdlineSize: DEFAULT_CMDLINE_SIZE,
    initrdAddrMax: DEFAULT_INITRD_ADDR_MAX,
  };
}
