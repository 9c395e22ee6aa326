import { BootError, hex } from './errors';

/*
 * Little-endian reads that check bounds first, so a hostile image can only
 * ever produce a BootError, never a RangeError from Buffer.
 */

function need(image: Buffer, offset: number, size: number, field: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + size > image.length) {
    throw new BootError(
      `truncated image: ${field} at offset ${hex(offset)} lies beyond the end of the file (${image.length} bytes)`,
    );
  }
}

export function u8(image: Buffer, offset: number, field: string): number {
  need(image, offset, 1, field);
  return image[offset];
}

export function u16(image: Buffer, offset: number, field: string): number {
  need(image, offset, 2, field);
  return image.readUInt16LE(offset);
}

export function u32(image: Buffer, offset: number, field: string): number {
  need(image, offset, 4, field);
  return image.readUInt32LE(offset);
}

export function u64(image: Buffer, offset: number, field: string): bigint {
  need(image, offset, 8, field);
  return image.readBigUInt64LE(offset);
}
