/**
 * A reply payload that encodes itself straight into the packet frame: the
 * bulk m and x replies. Without it a 64 KiB read is encoded into one buffer,
 * copied into the frame and summed in a third pass; with it the encoder
 * writes the frame's bytes and sums them as it goes.
 */
export interface EncodedPayload {
  /** At most this many bytes once encoded (the frame is sized for it). */
  readonly maxLength: number;
  /**
   * Writes the encoded bytes at out[offset...]; `out.byteOffset + offset` is
   * a multiple of 4, so encoders may store whole 16- and 32-bit words.
   * Returns how many bytes it wrote and their sum modulo 256.
   */
  encodeInto(out: Buffer, offset: number): { length: number; sum: number };
}

export type Payload = string | Buffer | EncodedPayload;

export function isEncodedPayload(payload: Payload): payload is EncodedPayload {
  return typeof payload === 'object' && !Buffer.isBuffer(payload);
}

/** A payload's bytes on their own (traces and tests; the frame does not need this). */
export function payloadBytes(payload: Payload): Buffer {
  if (typeof payload === 'string') return Buffer.from(payload, 'latin1');
  if (Buffer.isBuffer(payload)) return payload;
  const out = Buffer.from(new ArrayBuffer(payload.maxLength));
  return out.subarray(0, payload.encodeInto(out, 0).length);
}
