import { TARGET_DESCRIPTION } from '../arch/x86_64/target_xml';
import { escapeBinary } from '../rsp/binary';
import { parseHexNumber } from '../rsp/hex';
import type { Command } from './types';

export interface XferRead {
  annex: string;
  offset: number;
  length: number;
}

/** The protocol's reply for an annex the object does not have. */
const NO_SUCH_ANNEX = 'E00';

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
 * `qXfer:features:read:<annex>:<offset>,<length>`: a slice of the target
 * description, binary-escaped, `m` when more follows and `l` for the last
 * part (`l` alone past the end). Other qXfer objects get the empty reply
 * (not recognised), as the protocol asks.
 */
export const qXferFeaturesRead: Command<XferRead> = {
  prefix: 'qXfer:features:read:',
  parse: (body) => {
    const match = /^([^:]*):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(body);
    if (match === null) return undefined;
    const offset = parseHexNumber(match[2]!);
    const length = parseHexNumber(match[3]!);
    if (offset === undefined || length === undefined || length === 0) return undefined;
    return { annex: match[1]!, offset, length };
  },
  handle: ({ session }, { annex, offset, length }) => {
    const data = TARGET_DESCRIPTION.get(annex);
    if (data === undefined) return NO_SUCH_ANNEX;
    if (offset >= data.length) return 'l';
    const { end, escaped } = chunk(data, offset, length, session.packetSize);
    return Buffer.concat([Buffer.from(end < data.length ? 'm' : 'l'), escaped]);
  },
};
