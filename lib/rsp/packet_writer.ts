import { checksum } from './checksum';

/** Frames a reply payload as `$payload#xx`. The payload must already be escaped. */
export function framePacket(payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const out = Buffer.allocUnsafe(body.length + 4);
  out[0] = 0x24;
  body.copy(out, 1);
  out[body.length + 1] = 0x23;
  out.write(checksum(body).toString(16).padStart(2, '0'), body.length + 2, 'latin1');
  return out;
}
