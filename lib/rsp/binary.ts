/**
 * Binary data in packets (X requests, x replies): `$`, `#`, `}` and `*` are
 * sent as `}` followed by the byte XOR 0x20.
 */
const ESCAPE = 0x7d;

function needsEscape(byte: number): boolean {
  return byte === 0x23 || byte === 0x24 || byte === 0x7d || byte === 0x2a;
}

export function escapeBinary(data: Uint8Array): Buffer {
  let extra = 0;
  for (const byte of data) if (needsEscape(byte)) extra++;
  const out = Buffer.allocUnsafe(data.length + extra);
  let o = 0;
  for (const byte of data) {
    if (needsEscape(byte)) {
      out[o++] = ESCAPE;
      out[o++] = byte ^ 0x20;
    } else {
      out[o++] = byte;
    }
  }
  return out;
}

/** Undoes escapeBinary; undefined when the data ends inside an escape. */
export function unescapeBinary(data: Uint8Array): Buffer | undefined {
  const out = Buffer.allocUnsafe(data.length);
  let o = 0;
  for (let i = 0; i < data.length; i++) {
    const byte = data[i]!;
    if (byte === ESCAPE) {
      if (++i >= data.length) return undefined;
      out[o++] = data[i]! ^ 0x20;
    } else {
      out[o++] = byte;
    }
  }
  return out.subarray(0, o);
}
