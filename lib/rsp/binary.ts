import { checksum } from './checksum';
import type { EncodedPayload } from './encoded_payload';

/**
 * Binary data in packets (X requests, x replies): `$`, `#`, `}` and `*` are
 * sent as `}` followed by the byte XOR 0x20.
 */
const ESCAPE = 0x7d;

/** 1 for the bytes that must be escaped. */
const ESCAPED = (() => {
  const table = new Uint8Array(256);
  for (const byte of [0x23, 0x24, 0x7d, 0x2a]) table[byte] = 1;
  return table;
})();

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
  for (let i = 0; i < input.length; i++) {
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
  return { length: o - offset, sum: checksum(out, offset, o) };
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
    encodeInto: (out, offset) => escapeInto(data, prefix, maxLength, out, offset),
  };
}

/** Escapes `data`, after `prefix` (ASCII, e.g. x's `b`), into a Buffer of its own. */
export function escapeBinary(data: Uint8Array, prefix = ''): Buffer {
  const room = prefix.length + 2 * data.length;
  const out = Buffer.allocUnsafe(room);
  return out.subarray(0, escapeInto(data, prefix, room, out, 0).length);
}

/** Undoes escapeBinary; undefined when the data ends inside an escape. */
export function unescapeBinary(data: Uint8Array): Buffer | undefined {
  const bytes = Buffer.isBuffer(data)
    ? data
    : Buffer.from(data.buffer, data.byteOffset, data.length);
  const out = Buffer.allocUnsafe(bytes.length);
  const length = unescapeInto(bytes, out);
  return length < 0 ? undefined : out.subarray(0, length);
}

/** Unescapes `bytes` into `out` (as long); returns the length, or -1 when the data ends inside an escape. */
function unescapeInto(bytes: Buffer, out: Buffer): number {
  const n = bytes.length;
  let o = 0;
  let i = 0;
  while (i < n) {
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
