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
 * Escapes `data`, after `prefix` (ASCII, e.g. x's `b`) in the same buffer.
 * One pass into a buffer sized for the worst case (every byte escaped).
 */
export function escapeBinary(data: Uint8Array, prefix = ''): Buffer {
  const length = data.length;
  const lead = prefix.length;
  const out = Buffer.allocUnsafe(lead + 2 * length);
  if (lead > 0) out.write(prefix, 0, 'latin1');
  let o = lead;
  for (let i = 0; i < length; i++) {
    const byte = data[i]!;
    if (ESCAPED[byte] === 1) {
      out[o++] = ESCAPE;
      out[o++] = byte ^ 0x20;
    } else {
      out[o++] = byte;
    }
  }
  return out.subarray(0, o);
}

/** Undoes escapeBinary; undefined when the data ends inside an escape. */
export function unescapeBinary(data: Uint8Array): Buffer | undefined {
  const bytes = Buffer.isBuffer(data)
    ? data
    : Buffer.from(data.buffer, data.byteOffset, data.length);
  const out = Buffer.allocUnsafe(bytes.length);
  let o = 0;
  let from = 0;
  // Escapes are rare: copy the plain stretches between them in bulk.
  for (let at = bytes.indexOf(ESCAPE); at >= 0; at = bytes.indexOf(ESCAPE, from)) {
    if (at + 1 >= bytes.length) return undefined;
    o += bytes.copy(out, o, from, at);
    out[o++] = bytes[at + 1]! ^ 0x20;
    from = at + 2;
  }
  o += bytes.copy(out, o, from);
  return out.subarray(0, o);
}
