import { u16, u32, u64, u8 } from './bytes';
import { BootError, hex } from './errors';
import {
  BOOT_FLAG,
  DEFAULT_LOAD_ADDRESS,
  DEFAULT_SETUP_SECTS,
  ENTRY_64_OFFSET,
  HDR,
  HEADER_MAGIC,
  MIN_PROTOCOL_VERSION,
  protocolName,
  SETUP_HEADER_MAX_END,
  SETUP_HEADER_MIN_END,
  SETUP_HEADER_START,
  XLF_KERNEL_64,
} from './linux_setup_header';
import type { LinuxKernel } from './linux_kernel';
import { loadSegment } from './segments';

const SECTOR = 512;

/** Whether the image carries the setup header signature "HdrS" at 0x202, as every bzImage does. */
export function hasBzImageSignature(image: Buffer): boolean {
  return image.length >= HDR.header + 4 && image.readUInt32LE(HDR.header) === HEADER_MAGIC;
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/**
 * Reads a bzImage's setup header and places its protected-mode kernel: at
 * pref_address when relocatable, else at 1 MiB; entered at the 64-bit entry,
 * 0x200 into it. Refuses a header older than protocol 2.12 or without a
 * 64-bit entry.
 */
export function parseBzImage(image: Buffer): LinuxKernel {
  if (u16(image, HDR.bootFlag, 'boot_flag') !== BOOT_FLAG) {
    throw new BootError(
      `corrupt bzImage: boot_flag at ${hex(HDR.bootFlag)} is ${hex(image.readUInt16LE(HDR.bootFlag))}, expected ${hex(BOOT_FLAG)}`,
    );
  }
  const version = u16(image, HDR.version, 'the boot protocol version');
  if (version < MIN_PROTOCOL_VERSION) {
    throw new BootError(
      `bzImage boot protocol ${protocolName(version)} is too old: 2.12 or later is needed for the 64-bit entry (Linux 3.8+)`,
    );
  }
  const headerEnd = HDR.header + u8(image, HDR.jumpOffset, 'the setup header length');
  if (headerEnd < SETUP_HEADER_MIN_END || headerEnd > SETUP_HEADER_MAX_END) {
    throw new BootError(
      `corrupt bzImage: the setup header ends at ${hex(headerEnd)}; protocol ${protocolName(version)} needs ${hex(SETUP_HEADER_MIN_END)} to ${hex(SETUP_HEADER_MAX_END)}`,
    );
  }
  if (image.length < headerEnd) {
    throw new BootError(
      `truncated bzImage: ${image.length} bytes, the setup header alone needs ${headerEnd}`,
    );
  }
  const xloadflags = u16(image, HDR.xloadflags, 'xloadflags');
  if ((xloadflags & XLF_KERNEL_64) === 0) {
    throw new BootError(
      'bzImage has no 64-bit entry (XLF_KERNEL_64 clear in xloadflags): only x86-64 kernels are supported',
    );
  }

  const setupSects = u8(image, HDR.setupSects, 'setup_sects') || DEFAULT_SETUP_SECTS;
  const kernelOffset = (setupSects + 1) * SECTOR;
  const syssize = u32(image, HDR.syssize, 'syssize') * 16;
  const kernelSize = image.length - kernelOffset;
  if (kernelSize <= ENTRY_64_OFFSET || kernelSize < syssize) {
    throw new BootError(
      `truncated bzImage: the protected-mode kernel at offset ${hex(kernelOffset)} has ${Math.max(kernelSize, 0)} bytes, syssize says ${syssize}`,
    );
  }
  const payloadEnd =
    u32(image, HDR.payloadOffset, 'payload_offset') +
    u32(image, HDR.payloadLength, 'payload_length');
  if (payloadEnd > kernelSize) {
    throw new BootError(
      `truncated bzImage: the compressed payload ends ${payloadEnd} bytes into the protected-mode kernel, which has ${kernelSize}`,
    );
  }

  const relocatable = u8(image, HDR.relocatableKernel, 'relocatable_kernel') !== 0;
  const prefAddress = u64(image, HDR.prefAddress, 'pref_address');
  const alignment = u32(image, HDR.kernelAlignment, 'kernel_alignment');
  const initSize = u32(image, HDR.initSize, 'init_size');
  let loadAddress = DEFAULT_LOAD_ADDRESS;
  if (relocatable) {
    if (prefAddress >= 1n << 32n || prefAddress < BigInt(DEFAULT_LOAD_ADDRESS)) {
      throw new BootError(
        `corrupt bzImage: pref_address ${hex(prefAddress)} is not between 1 MiB and 4 GiB`,
      );
    }
    loadAddress = Number(prefAddress);
  }
  // The kernel runs from its load address aligned up to kernel_alignment and needs init_size bytes there.
  const runtimeStart =
    relocatable && alignment > 0 && (alignment & (alignment - 1)) === 0
      ? alignUp(loadAddress, alignment)
      : loadAddress;
  const fileEnd = loadAddress + kernelSize;
  const initEnd = runtimeStart + initSize;
  return {
    format: 'bzimage',
    segments: [
      loadSegment(
        'the bzImage protected-mode kernel',
        BigInt(loadAddress),
        BigInt(kernelOffset),
        BigInt(kernelSize),
        BigInt(kernelSize),
      ),
    ],
    entry: BigInt(loadAddress + ENTRY_64_OFFSET),
    end: Math.max(fileEnd, initEnd),
    endReason:
      initEnd >= fileEnd
        ? `its run-time address ${hex(runtimeStart)} + init_size ${hex(initSize)}`
        : `its load address ${hex(loadAddress)} + its ${kernelSize} bytes`,
    setupHeader: Buffer.from(image.subarray(SETUP_HEADER_START, headerEnd)),
    cmdlineSize: u32(image, HDR.cmdlineSize, 'cmdline_size'),
    initrdAddrMax: u32(image, HDR.initrdAddrMax, 'initrd_addr_max'),
  };
}
