import { checksum } from './checksum';
import type { EncodedPayload } from './encoded_payload';

/** Parses a non-empty run of hex digits as an unsigned integer; undefined if malformed. */
export function parseHexBigInt(text: string): bigint | undefined {
  if (text.length === 0 || text.length > 16 || !/^[0-9a-fA-F]+$/.test(text)) return undefined;
  return BigInt('0x' + text);
}

/** As parseHexBigInt, for values that must fit a JS number safely. */
export function parseHexNumber(text: string): number | undefined {
  if (text.length === 0 || text.length > 13 || !/^[0-9a-fA-F]+$/.test(text)) return undefined;
  return parseInt(text, 16);
}

/** Encodes text as hex (for qRcmd output and `O` packets). */
export function hexEncode(text: string | Buffer): string {
  return (typeof text === 'string' ? Buffer.from(text, 'utf8') : text).toString('hex');
}

/** Hex-encodes into out[offset...] with Node's own encoder; returns the digits' sum modulo 256. */
function encodeHexInto(input: Uint8Array, out: Buffer, offset: number): number {
  const bytes = Buffer.isBuffer(input)
    ? input
    : Buffer.from(input.buffer, input.byteOffset, input.length);
  const length = out.write(bytes.toString('hex'), offset, 'latin1');
  return checksum(out, offset, offset + length);
}

/** Bytes as lowercase hex, encoded straight into the reply's frame (bulk m replies). */
export function hexPayload(data: Uint8Array): EncodedPayload {
  return {
    maxLength: data.length * 2,
    encodeInto: (out, offset) => ({
      length: data.length * 2,
      sum: encodeHexInto(data, out, offset),
    }),
  };
}
