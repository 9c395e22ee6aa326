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

// Two ASCII hex digits per byte value, as one little-endian 16-bit unit.
const HEX_PAIRS = (() => {
  const digits = '0123456789abcdef';
  const table = new Uint16Array(256);
  for (let b = 0; b < 256; b++) {
    table[b] = digits.charCodeAt(b >> 4) | (digits.charCodeAt(b & 15) << 8);
  }
  return table;
})();
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Bytes as lowercase hex, straight into a Buffer (the m reply): faster than
 * toString('hex') for large reads, and no string to copy into the frame.
 */
export function hexBytes(data: Uint8Array): Buffer {
  if (!LITTLE_ENDIAN) return Buffer.from(Buffer.from(data).toString('hex'), 'latin1');
  const out = Buffer.allocUnsafe(data.length * 2);
  const pairs = new Uint16Array(out.buffer, out.byteOffset, data.length);
  for (let i = 0; i < data.length; i++) pairs[i] = HEX_PAIRS[data[i]!]!;
  return out;
}
