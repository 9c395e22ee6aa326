import { checksum } from './checksum';
import { runLengthEncodeInPlace } from './run_length';

export interface FrameOptions {
  /** Run-length encode the data (replies only: gdb sends, and we expect, none). */
  runLength?: boolean;
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/**
 * Frames a payload as `$payload#xx` in one buffer. The payload must already be
 * escaped (binary data through escapeBinary). With runLength the data is
 * encoded in place and the checksum covers the encoded bytes, as sent.
 *
 * Lengths are not checked here: the commands bound their replies from
 * session.packetSize (PacketSize counts `$`, `#` and the checksum, as gdb
 * does, so data is at most packetSize - 4 bytes), and RspConnection.send logs
 * a reply that exceeds it anyway. Encoding only ever shortens a reply.
 */
export function framePacket(payload: string | Buffer, options: FrameOptions = {}): Buffer {
  const length =
    typeof payload === 'string' ? Buffer.byteLength(payload, 'latin1') : payload.length;
  const out = Buffer.allocUnsafe(length + 4);
  out[0] = 0x24;
  if (typeof payload === 'string') out.write(payload, 1, 'latin1');
  else payload.copy(out, 1);
  const end = options.runLength === true ? runLengthEncodeInPlace(out, 1, length + 1) : length + 1;
  const sum = checksum(out, 1, end);
  out[end] = 0x23;
  out[end + 1] = HEX_DIGITS[sum >> 4]!;
  out[end + 2] = HEX_DIGITS[sum & 0xf]!;
  return end === length + 1 ? out : out.subarray(0, end + 3);
}
