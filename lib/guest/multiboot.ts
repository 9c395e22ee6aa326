import { u32 } from './bytes';
import { BootError, hex } from './errors';
import { loadSegment, type LoadSegment } from './segments';

/** Multiboot v1 header magic, found in the kernel image. */
export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
/** What the loader leaves in EAX for a Multiboot v1 kernel. */
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
/** The whole header must lie in the first 8 KiB of the image. */
export const MULTIBOOT_SEARCH_LIMIT = 8192;

const MULTIBOOT2_HEADER_MAGIC = 0xe85250d6;
const MULTIBOOT2_SEARCH_LIMIT = 32768;

/** Flag bits 0-15 are requirements; these are the ones the loader honours. */
const FLAG_PAGE_ALIGN_MODULES = 1 << 0; // there are no modules, so trivially met
const FLAG_MEMORY_INFO = 1 << 1; // mem_lower/mem_upper and the memory map are always given
const FLAG_VIDEO_MODE = 1 << 2;
const HONOURED_REQUIREMENTS = FLAG_PAGE_ALIGN_MODULES | FLAG_MEMORY_INFO;
const REQUIREMENT_MASK = 0xffff;
/** Optional bit 16: the header's address fields say where to load (the "a.out kludge"). */
const FLAG_ADDRESS_FIELDS = 1 << 16;

const BASIC_HEADER_SIZE = 12;
const ADDRESS_HEADER_SIZE = 32;

export interface AddressFields {
  headerAddr: number;
  loadAddr: number;
  loadEndAddr: number;
  bssEndAddr: number;
  entryAddr: number;
}

export interface MultibootHeader {
  /** File offset of the magic. */
  offset: number;
  flags: number;
  /** Present when flag bit 16 is set. */
  addresses?: AddressFields;
}

/**
 * Finds the Multiboot v1 header: 4-byte aligned, entirely within the first
 * 8 KiB, with magic + flags + checksum = 0 (mod 2^32). A magic with a bad
 * checksum is an error unless a valid header follows it.
 */
export function findMultibootHeader(image: Buffer): MultibootHeader | undefined {
  const limit = Math.min(image.length, MULTIBOOT_SEARCH_LIMIT);
  let badChecksumAt: number | undefined;
  for (let offset = 0; offset + BASIC_HEADER_SIZE <= limit; offset += 4) {
    if (image.readUInt32LE(offset) !== MULTIBOOT_HEADER_MAGIC) continue;
    const flags = image.readUInt32LE(offset + 4);
    const checksum = image.readUInt32LE(offset + 8);
    if ((MULTIBOOT_HEADER_MAGIC + flags + checksum) >>> 0 !== 0) {
      badChecksumAt ??= offset;
      continue;
    }
    return parseHeader(image, offset, flags);
  }
  if (badChecksumAt !== undefined) {
    throw new BootError(
      `Multiboot header at offset ${hex(badChecksumAt)} has a bad checksum (magic + flags + checksum must be 0)`,
    );
  }
  return undefined;
}

function parseHeader(image: Buffer, offset: number, flags: number): MultibootHeader {
  const required = flags & REQUIREMENT_MASK;
  if (required & FLAG_VIDEO_MODE) {
    throw new BootError(
      'Multiboot header requires video mode information (flag bit 2), which this loader cannot provide',
    );
  }
  const unknown = required & ~HONOURED_REQUIREMENTS;
  if (unknown !== 0) {
    throw new BootError(
      `Multiboot header sets unknown required flag bits ${hex(unknown)}; refusing to boot`,
    );
  }
  if ((flags & FLAG_ADDRESS_FIELDS) === 0) return { offset, flags };
  if (offset + ADDRESS_HEADER_SIZE > Math.min(image.length, MULTIBOOT_SEARCH_LIMIT)) {
    throw new BootError(
      `Multiboot header at offset ${hex(offset)} sets flag bit 16 but its address fields run past the first ${MULTIBOOT_SEARCH_LIMIT} bytes or the file`,
    );
  }
  const field = (n: number, name: string): number => u32(image, offset + 12 + 4 * n, name);
  return {
    offset,
    flags,
    addresses: {
      headerAddr: field(0, 'header_addr'),
      loadAddr: field(1, 'load_addr'),
      loadEndAddr: field(2, 'load_end_addr'),
      bssEndAddr: field(3, 'bss_end_addr'),
      entryAddr: field(4, 'entry_addr'),
    },
  };
}

/**
 * The one segment described by the address fields: the file is loaded from
 * offset (header offset - (header_addr - load_addr)) to load_addr, then
 * zeroed up to bss_end_addr.
 */
export function addressFieldSegment(
  image: Buffer,
  headerOffset: number,
  fields: AddressFields,
): LoadSegment {
  const { headerAddr, loadAddr, loadEndAddr, bssEndAddr } = fields;
  if (loadAddr > headerAddr) {
    throw new BootError(
      `Multiboot load_addr ${hex(loadAddr)} is above header_addr ${hex(headerAddr)}`,
    );
  }
  const fileOffset = headerOffset - (headerAddr - loadAddr);
  if (fileOffset < 0) {
    throw new BootError(
      `Multiboot header_addr - load_addr (${hex(headerAddr - loadAddr)}) is larger than the header's file offset ${hex(headerOffset)}`,
    );
  }
  let fileSize: number;
  if (loadEndAddr === 0) {
    fileSize = image.length - fileOffset;
  } else {
    if (loadEndAddr < loadAddr) {
      throw new BootError(
        `Multiboot load_end_addr ${hex(loadEndAddr)} is below load_addr ${hex(loadAddr)}`,
      );
    }
    fileSize = loadEndAddr - loadAddr;
    if (fileOffset + fileSize > image.length) {
      throw new BootError(
        `truncated image: Multiboot load range needs file bytes [${hex(fileOffset)}, ${hex(fileOffset + fileSize)}), file has ${image.length}`,
      );
    }
  }
  const loadEnd = loadAddr + fileSize;
  if (bssEndAddr !== 0 && bssEndAddr < loadEnd) {
    throw new BootError(
      `Multiboot bss_end_addr ${hex(bssEndAddr)} is below the end of the loaded data ${hex(loadEnd)}`,
    );
  }
  const memSize = bssEndAddr === 0 ? fileSize : bssEndAddr - loadAddr;
  return loadSegment(
    'the Multiboot load range',
    BigInt(loadAddr),
    BigInt(fileOffset),
    BigInt(fileSize),
    BigInt(memSize),
  );
}

/** Offset of a valid Multiboot2 header, so such kernels get a clear refusal. */
export function findMultiboot2Header(image: Buffer): number | undefined {
  const limit = Math.min(image.length, MULTIBOOT2_SEARCH_LIMIT);
  for (let offset = 0; offset + 16 <= limit; offset += 8) {
    if (image.readUInt32LE(offset) !== MULTIBOOT2_HEADER_MAGIC) continue;
    let sum = 0;
    for (let i = 0; i < 16; i += 4) sum = (sum + image.readUInt32LE(offset + i)) >>> 0;
    if (sum === 0) return offset;
  }
  return undefined;
}
