/**
 * Word-at-a-time helpers for the bulk encoders (hex.ts, binary.ts), which
 * read and write 32-bit words where the host's byte order allows.
 */

/** Typed-array words are little-endian here (x86, arm64): byte 0 is the low byte. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A word whose top bit of each byte is set at (or above) a zero byte of
 * `word`: masked with 0x80808080 it is non-zero exactly when a byte is zero.
 * Kept unmasked so several tests can be ORed and masked once.
 */
export function zeroByteBits(word: number): number {
  return (word - 0x01010101) & ~word;
}

/** True when any of the four bytes of a 32-bit word is zero. */
export function hasZeroByte(word: number): boolean {
  return (zeroByteBits(word) & 0x80808080) !== 0;
}
