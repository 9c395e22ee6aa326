import { escapeBinary } from '../rsp/binary';
import { parseHexNumber } from '../rsp/hex';

/** A `qXfer:<object>:read:<annex>:<offset>,<length>` request, after the object's prefix. */
export interface XferRead {
  annex: string;
  offset: number;
  length: number;
}

/** The protocol's reply for an annex the object does not have. */
export const NO_SUCH_ANNEX = 'E00';

/** Parses `<annex>:<offset>,<length>`; undefined when malformed or the length is 0. */
export function parseXferRead(body: string): XferRead | undefined {
  const match = /^([^:]*):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(body);
  if (match === null) return undefined;
  const offset = parseHexNumber(match[2]!);
  const length = parseHexNumber(match[3]!);
  if (offset === undefined || length === undefined || length === 0) return undefined;
  return { annex: match[1]!, offset, length };
}

/** Escaped data from offset, at most length raw bytes, that fits after the m/l byte. */
function chunk(data: Buffer, offset: number, length: number, packetSize: number) {
  const room = packetSize - 1;
  let end = Math.min(data.length, offset + length, offset + room);
  let escaped = escapeBinary(data.subarray(offset, end));
  // Each raw byte left out shortens the escaped form by one byte or two.
  while (escaped.length > room) {
    end -= escaped.length - room;
    escaped = escapeBinary(data.subarray(offset, end));
  }
  return { end, escaped };
}

/**
 * One qXfer read reply over a whole object: its slice from offset,
 * binary-escaped, `m` when more follows and `l` for the last part (`l`
 * alone at or past the end).
 */
export function xferReply(data: Buffer, { offset, length }: XferRead, packetSize: number): Buffer {
  if (offset >= data.length) return Buffer.from('l');
  const { end, escaped } = chunk(data, offset, length, packetSize);
  return Buffer.concat([Buffer.from(end < data.length ? 'm' : 'l'), escaped]);
}

/** Escapes text for an XML attribute or element. */
export function xmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
