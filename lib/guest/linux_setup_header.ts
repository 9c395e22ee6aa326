/*
 * The Linux x86 boot protocol's setup header (Documentation/arch/x86/boot.rst):
 * the field offsets, which are the same in a bzImage and in boot_params.
 */

/** Offsets of setup header fields, from the start of the image or of boot_params. */
export const HDR = {
  setupSects: 0x1f1,
  syssize: 0x1f4,
  bootFlag: 0x1fe,
  /** Second byte of the 2-byte jump: the header ends at 0x202 + this byte. */
  jumpOffset: 0x201,
  header: 0x202,
  version: 0x206,
  typeOfLoader: 0x210,
  loadflags: 0x211,
  code32Start: 0x214,
  ramdiskImage: 0x218,
  ramdiskSize: 0x21c,
  heapEndPtr: 0x224,
  cmdLinePtr: 0x228,
  initrdAddrMax: 0x22c,
  kernelAlignment: 0x230,
  relocatableKernel: 0x234,
  xloadflags: 0x236,
  cmdlineSize: 0x238,
  payloadOffset: 0x248,
  payloadLength: 0x24c,
  prefAddress: 0x258,
  initSize: 0x260,
} as const;

/** Where the header starts and the latest end it can have (edd_mbr_sig_buffer follows in boot_params). */
export const SETUP_HEADER_START = HDR.setupSects;
export const SETUP_HEADER_MAX_END = 0x290;
/** The end of the 2.12 fields this loader reads (init_size is the last). */
export const SETUP_HEADER_MIN_END = HDR.initSize + 4;

export const BOOT_FLAG = 0xaa55;
/** "HdrS" read as a little-endian u32. */
export const HEADER_MAGIC = 0x53726448;
/** 2.12: xloadflags, the first protocol that says whether there is a 64-bit entry. */
export const MIN_PROTOCOL_VERSION = 0x020c;
/** The version the loader writes into a header it builds for a vmlinux (2.15). */
export const BUILT_PROTOCOL_VERSION = 0x020f;

export const LOADFLAG_LOADED_HIGH = 1 << 0;
export const LOADFLAG_CAN_USE_HEAP = 1 << 7;
export const XLF_KERNEL_64 = 1 << 0;
/** "Undefined" boot loader id: none of the registered ids is ours. */
export const TYPE_OF_LOADER_UNDEFINED = 0xff;
/** The setup heap ends here, as every loader that sets CAN_USE_HEAP says; unused by a 64-bit entry. */
export const HEAP_END_PTR = 0xfe00;
/** Where a non-relocatable bzImage's protected-mode kernel must go. */
export const DEFAULT_LOAD_ADDRESS = 0x100000;
/** The 64-bit entry is this far into the protected-mode kernel. */
export const ENTRY_64_OFFSET = 0x200;
/** setup_sects = 0 means 4, for compatibility with ancient kernels. */
export const DEFAULT_SETUP_SECTS = 4;
/** Linux's own initrd_addr_max default: the highest byte an initrd may use. */
export const DEFAULT_INITRD_ADDR_MAX = 0x7fffffff;
/** x86's COMMAND_LINE_SIZE is 2048, NUL included. */
export const DEFAULT_CMDLINE_SIZE = 2047;

export function protocolName(version: number): string {
  return `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
}
