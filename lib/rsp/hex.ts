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
