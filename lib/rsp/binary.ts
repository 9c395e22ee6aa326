import { BulkMemory, unescapeWithSimd } from './bulk_codec';
import { checksum } from './checksum';
import type { EncodedPayload } from './encoded_payload';
import { hasZeroByte, LITTLE_ENDIAN, zeroByteBits } from './word_bits';

/**
 * Binary data in packets (X requests, x replies): `$`, `#`, `}` and `*` are
 * sent as `}` followed by the byte XOR 0x20.
 */
const ESCAPE = 0x7d;

/** 1 for the bytes that must be escaped; indexed loops over a table run several times faster than for-of. */
const ESCAPED = (() => {
  const table = new Uint8Array(256);
  for (const byte of [0x23, 0x24, 0x7d, 0x2a]) table[byte] = 1;
  return table;
})();

/**
 * True when a 32-bit word holds any of the four escaped bytes (each XOR
 * turns that byte into zero; the classic "has a zero byte" test then finds
 * it). Lets clean words, almost all of them in real memory, skip the
 * per-byte table. The four tests are ORed before one branch: with a
 * branch each, escaping 512 KiB took 764 us here, with one 450 us.
 */
function holdsEscaped(word: number): boolean {
  const any =
    zeroByteBits(word ^ 0x23232323) |
    zeroByteBits(word ^ 0x24242424) |
    zeroByteBits(word ^ 0x7d7d7d7d) |
    zeroByteBits(word ^ 0x2a2a2a2a);
  return (any & 0x80808080) !== 0;
}

/**
 * Escapes as many leading bytes of `input` as fit in `room` bytes at
 * out[offset...], after `prefix`; returns the length written and its sum.
 */
function escapeInto(
  input: Uint8Array,
  prefix: string,
  room: number,
  out: Buffer,
  offset: number,
): { length: number; sum: number } {
  const limit = offset + room;
  let o = offset + out.write(prefix, offset, 'latin1');
  let sum = checksum(out, offset, o);
  let i = 0;
  if (LITTLE_ENDIAN && (input.byteOffset & 3) === 0) {
    const words = new Uint32Array(input.buffer, input.byteOffset, input.length >> 2);
    const view = new DataView(out.buffer, out.byteOffset, out.length);
    // Byte sums of clean words, pairwise in two 16-bit lanes, folded every 32
    // words: `lanes` stays under 2^30, a small integer to V8 (see checksum).
    let lanes = 0;
    let laned = 0;
    // Eight bytes of room cover a word whose every byte is escaped.
    for (let w = 0; w < words.length && o + 8 <= limit; w++) {
      const word = words[w]!;
      if (holdsEscaped(word)) {
        for (let shift = 0; shift < 32; shift += 8) {
          const byte = (word >>> shift) & 0xff;
          if (ESCAPED[byte] === 1) {
            out[o++] = ESCAPE;
            out[o++] = byte ^ 0x20;
            sum += ESCAPE + (byte ^ 0x20);
          } else {
            out[o++] = byte;
            sum += byte;
          }
        }
      } else {
        view.setUint32(o, word, true);
        o += 4;
        lanes += (word & 0x00ff00ff) + ((word >>> 8) & 0x00ff00ff);
        if (++laned === 32) {
          sum += (lanes & 0xffff) + (lanes >>> 16);
          lanes = 0;
          laned = 0;
        }
      }
      i += 4;
    }
    sum += (lanes & 0xffff) + (lanes >>> 16);
  }
  const end = escapeBytes(input, i, out, o, limit);
  return { length: end - offset, sum: (sum + checksum(out, o, end)) & 0xff };
}

/**
 * Escapes input[from...] a byte at a time into out[o...] while it fits
 * before `limit`; returns where it stopped. The last few bytes of every x
 * reply go this way. In a function of its own, apart from the word loop:
 * inline, its rarely taken paths (a byte that no longer fits) deoptimized
 * escapeInto at the end of nearly every reply, and a 512 KiB reply took
 * 730 us in the code V8 fell back to instead of 480.
 */
function escapeBytes(
  input: Uint8Array,
  from: number,
  out: Buffer,
  o: number,
  limit: number,
): number {
  for (let i = from; i < input.length; i++) {
    const byte = input[i]!;
    if (ESCAPED[byte] === 1) {
      if (o + 2 > limit) break;
      out[o++] = ESCAPE;
      out[o++] = byte ^ 0x20;
    } else {
      if (o + 1 > limit) break;
      out[o++] = byte;
    }
  }
  return o;
}

/**
 * Binary data after `prefix`, escaped straight into the reply's frame (bulk
 * x replies), at most `room` bytes in all: the leading bytes that fit, which
 * x may answer with when the escapes would not all fit the packet.
 */
export function binaryPayload(data: Uint8Array, prefix: string, room: number): EncodedPayload {
  const maxLength = Math.min(room, prefix.length + 2 * data.length);
  return {
    maxLength,
    // Data and frame in one BulkMemory: its WebAssembly escaper.
    encodeInto: (out, offset) =>
      BulkMemory.holding(data, out)?.escapeInto(data, prefix, maxLength, out, offset) ??
      escapeInto(data, prefix, maxLength, out, offset),
  };
}

/** Escapes `data`, after `prefix` (ASCII, e.g. x's `b`), into a Buffer of its own. */
export function escapeBinary(data: Uint8Array, prefix = ''): Buffer {
  const room = prefix.length + 2 * data.length;
  const out = Buffer.allocUnsafe(room);
  return out.subarray(0, escapeInto(data, prefix, room, out, 0).length);
}

/** From this length on, unescapeBinary goes through WebAssembly (bulk X writes, x replies on a client). */
const SIMD_UNESCAPE_MIN = 4096;

/** Undoes escapeBinary; undefined when the data ends inside an escape. */
export function unescapeBinary(data: Uint8Array): Buffer | undefined {
  if (data.length >= SIMD_UNESCAPE_MIN) {
    const unescaped = unescapeWithSimd(data);
    if (unescaped !== null) return unescaped;
  }
  const bytes = Buffer.isBuffer(data)
    ? data
    : Buffer.from(data.buffer, data.byteOffset, data.length);
  const out = Buffer.allocUnsafe(bytes.length);
  const length = unescapeInto(bytes, out);
  return length < 0 ? undefined : out.subarray(0, length);
}

/**
 * Unescapes `bytes` into `out` (as long); returns the length, or -1 when the
 * data ends inside an escape. Nothing follows the loop but the return (see
 * encodeHexWords in hex.ts: V8 compiles the loop mid-call, and a property
 * access after it, never run by then, deoptimized every later call).
 */
function unescapeInto(bytes: Buffer, out: Buffer): number {
  const n = bytes.length;
  const view = new DataView(out.buffer, out.byteOffset, n);
  // Aligned 32-bit words of the input: a word without `}` is copied whole.
  const base = bytes.byteOffset;
  const firstWord = (base + 3) & ~3;
  const wordCount = LITTLE_ENDIAN ? Math.max(0, (base + n - firstWord) >> 2) : 0;
  const words =
    wordCount > 0 ? new Uint32Array(bytes.buffer, firstWord, wordCount) : new Uint32Array(0);
  const wordsEnd = firstWord - base + wordCount * 4;
  let o = 0;
  let i = 0;
  while (i < n) {
    if (((base + i) & 3) === 0 && i < wordsEnd) {
      const word = words[(base + i - firstWord) >> 2]!;
      if (!hasZeroByte(word ^ 0x7d7d7d7d)) {
        view.setUint32(o, word, true);
        o += 4;
        i += 4;
        continue;
      }
    }
    const byte = bytes[i++]!;
    if (byte === ESCAPE) {
      if (i >= n) return -1;
      out[o++] = bytes[i++]! ^ 0x20;
    } else {
      out[o++] = byte;
    }
  }
  return o;
}
