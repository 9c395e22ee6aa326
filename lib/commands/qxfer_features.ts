import { TARGET_DESCRIPTION } from '../arch/x86_64/target_xml';
import { NO_SUCH_ANNEX, parseXferRead, xferReply, type XferRead } from './qxfer';
import type { Command } from './types';

/**
 * `qXfer:features:read:<annex>:<offset>,<length>`: a slice of the target
 * description, binary-escaped, `m` when more follows and `l` for the last
 * part (`l` alone past the end). Other qXfer objects get the empty reply
 * (not recognised), as the protocol asks.
 */
export const qXferFeaturesRead: Command<XferRead> = {
  prefix: 'qXfer:features:read:',
  parse: parseXferRead,
  handle: ({ session }, request) => {
    const data = TARGET_DESCRIPTION.get(request.annex);
    if (data === undefined) return NO_SUCH_ANNEX;
    return xferReply(data, request, session.packetSize);
  },
};
