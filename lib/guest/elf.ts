import { u16, u32, u64, u8 } from './bytes';
import { BootError, hex } from './errors';

export const EM_386 = 3;
export const EM_X86_64 = 62;
export const ET_EXEC = 2;
export const PT_LOAD = 1;
export const PT_NOTE = 4;

const ELFCLASS32 = 1;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ELFDATA2MSB = 2;
const EV_CURRENT = 1;
/** e_phnum value meaning "the real count is in section 0": never used by a kernel. */
const PN_XNUM = 0xffff;
/** Kernels have a handful of program headers; more than this is a hostile or broken file. */
export const MAX_PROGRAM_HEADERS = 1024;

const LAYOUT = {
  32: { ehsize: 52, phentsize: 32, machine: EM_386, machineName: 'i386' },
  64: { ehsize: 64, phentsize: 56, machine: EM_X86_64, machineName: 'x86-64' },
} as const;

/** One PT_LOAD program header, bounds-checked against the file. */
export interface LoadHeader {
  /** Index in the program header table, for messages. */
  index: number;
  offset: bigint;
  vaddr: bigint;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
}

export interface ElfFile {
  elfClass: 32 | 64;
  entry: bigint;
  /** PT_LOAD headers with a non-zero p_memsz, in table order. */
  loads: LoadHeader[];
  /** PT_NOTE file ranges, unchecked: whoever reads one checks it against the file. */
  notes: NoteRange[];
}

export interface NoteRange {
  offset: bigint;
  size: bigint;
}

export function hasElfMagic(image: Buffer): boolean {
  return (
    image.length >= 4 &&
    image[0] === 0x7f &&
    image[1] === 0x45 &&
    image[2] === 0x4c &&
    image[3] === 0x46
  );
}

/**
 * Parses an x86 ELF32 or x86-64 ELF64 executable: the file header and every
 * PT_LOAD, refusing anything a kernel loader cannot use.
 */
export function parseElf(image: Buffer): ElfFile {
  const elfClass = elfClassOf(image);
  const layout = LAYOUT[elfClass];
  if (image.length < layout.ehsize) {
    throw new BootError(
      `truncated ELF${elfClass} header: needs ${layout.ehsize} bytes, file has ${image.length}`,
    );
  }
  const type = u16(image, 16, 'e_type');
  const machine = u16(image, 18, 'e_machine');
  if (machine !== layout.machine) {
    throw new BootError(
      `wrong machine: ELF${elfClass} e_machine is ${machine}, expected ${layout.machine} (${layout.machineName})`,
    );
  }
  if (type !== ET_EXEC) {
    throw new BootError(`not an executable: ELF e_type is ${type}, expected ${ET_EXEC} (ET_EXEC)`);
  }
  const is64 = elfClass === 64;
  const entry = is64 ? u64(image, 24, 'e_entry') : BigInt(u32(image, 24, 'e_entry'));
  const phoff = is64 ? u64(image, 32, 'e_phoff') : BigInt(u32(image, 28, 'e_phoff'));
  const phentsize = u16(image, is64 ? 54 : 42, 'e_phentsize');
  const phnum = u16(image, is64 ? 56 : 44, 'e_phnum');

  if (phnum === 0) {
    throw new BootError('ELF has no program headers, so nothing to load');
  }
  if (phnum === PN_XNUM || phnum > MAX_PROGRAM_HEADERS) {
    throw new BootError(
      `absurd ELF program header count ${phnum} (at most ${MAX_PROGRAM_HEADERS} accepted)`,
    );
  }
  if (phentsize !== layout.phentsize) {
    throw new BootError(
      `bad ELF${elfClass} e_phentsize ${phentsize}, expected ${layout.phentsize}`,
    );
  }
  const tableEnd = phoff + BigInt(phnum * phentsize);
  if (tableEnd > BigInt(image.length)) {
    throw new BootError(
      `truncated image: program header table [${hex(phoff)}, ${hex(tableEnd)}) runs past the end of the file (${image.length} bytes)`,
    );
  }

  const loads: LoadHeader[] = [];
  const notes: NoteRange[] = [];
  for (let index = 0; index < phnum; index++) {
    const at = Number(phoff) + index * phentsize;
    if (is64 && u32(image, at, 'p_type') === PT_NOTE) {
      notes.push({ offset: u64(image, at + 8, 'p_offset'), size: u64(image, at + 32, 'p_filesz') });
    }
    const header = is64 ? readPhdr64(image, at, index) : readPhdr32(image, at, index);
    if (header === undefined) continue;
    checkLoadHeader(image, header);
    if (header.memsz > 0n) loads.push(header);
  }
  if (loads.length === 0) {
    throw new BootError('ELF has no non-empty PT_LOAD segment, so nothing to load');
  }
  return { elfClass, entry, loads, notes };
}

function elfClassOf(image: Buffer): 32 | 64 {
  if (image.length < 16) {
    throw new BootError(`truncated ELF header: file is ${image.length} bytes`);
  }
  const cls = u8(image, 4, 'EI_CLASS');
  const data = u8(image, 5, 'EI_DATA');
  const version = u8(image, 6, 'EI_VERSION');
  if (cls !== ELFCLASS32 && cls !== ELFCLASS64) {
    throw new BootError(`unknown ELF class ${cls} (expected 1 for ELF32 or 2 for ELF64)`);
  }
  if (data === ELFDATA2MSB) {
    throw new BootError('big-endian ELF: x86 kernels are little-endian');
  }
  if (data !== ELFDATA2LSB) {
    throw new BootError(`unknown ELF data encoding ${data} (expected 1, little-endian)`);
  }
  if (version !== EV_CURRENT) {
    throw new BootError(`unsupported ELF version ${version} (expected 1)`);
  }
  return cls === ELFCLASS32 ? 32 : 64;
}

function readPhdr32(image: Buffer, at: number, index: number): LoadHeader | undefined {
  if (u32(image, at, 'p_type') !== PT_LOAD) return undefined;
  return {
    index,
    offset: BigInt(u32(image, at + 4, 'p_offset')),
    vaddr: BigInt(u32(image, at + 8, 'p_vaddr')),
    paddr: BigInt(u32(image, at + 12, 'p_paddr')),
    filesz: BigInt(u32(image, at + 16, 'p_filesz')),
    memsz: BigInt(u32(image, at + 20, 'p_memsz')),
  };
}

function readPhdr64(image: Buffer, at: number, index: number): LoadHeader | undefined {
  if (u32(image, at, 'p_type') !== PT_LOAD) return undefined;
  return {
    index,
    offset: u64(image, at + 8, 'p_offset'),
    vaddr: u64(image, at + 16, 'p_vaddr'),
    paddr: u64(image, at + 24, 'p_paddr'),
    filesz: u64(image, at + 32, 'p_filesz'),
    memsz: u64(image, at + 40, 'p_memsz'),
  };
}

function checkLoadHeader(image: Buffer, header: LoadHeader): void {
  const name = `PT_LOAD #${header.index}`;
  if (header.filesz > header.memsz) {
    throw new BootError(
      `${name} has p_filesz ${hex(header.filesz)} larger than p_memsz ${hex(header.memsz)}`,
    );
  }
  const end = header.offset + header.filesz;
  if (header.filesz > 0n && end > BigInt(image.length)) {
    throw new BootError(
      `truncated image: ${name} file bytes [${hex(header.offset)}, ${hex(end)}) run past the end of the file (${image.length} bytes)`,
    );
  }
}
