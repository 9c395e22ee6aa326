import { parseHexBigInt } from '../rsp/hex';
import { Errors, type Command } from './types';

export interface BackwardSearchRequest {
  address: bigint;
  pattern: Buffer;
  mask: Buffer;
}

/** How far back `t` looks: the old packet names no limit; we bound the work. */
export const BACKWARD_SEARCH_LIMIT = 0x10000;

/**
 * `t addr:PP,MM` (old, from the protocol manual): search backwards from addr
 * for 4 bytes that equal pattern PP under mask MM (both 4 bytes, in memory
 * order); addr has at least 3 digits. Reply `1,addr` for the nearest match,
 * `0` for none within BACKWARD_SEARCH_LIMIT bytes, E when addr is unreadable.
 */
export const tBackward: Command<BackwardSearchRequest> = {
  prefix: 't',
  parse: (body) => {
    const match = /^([0-9a-fA-F]{3,16}):([0-9a-fA-F]{8}),([0-9a-fA-F]{8})$/.exec(body);
    if (match === null) return undefined;
    return {
      address: parseHexBigInt(match[1]!)!,
      pattern: Buffer.from(match[2]!, 'hex'),
      mask: Buffer.from(match[3]!, 'hex'),
    };
  },
  handle: ({ debugger: dbg, session }, { address, pattern, mask }) => {
    const span = address < BigInt(BACKWARD_SEARCH_LIMIT) ? Number(address) : BACKWARD_SEARCH_LIMIT;
    let start = address - BigInt(span);
    // The 4 bytes at addr itself are the first candidate; an unmapped low end is skipped.
    let data = dbg.readMemory(session.generalVcpu, start, span + 4);
    while (data.length === 0 && start < address) {
      start = (start | 0xfffn) + 1n > address ? address : (start | 0xfffn) + 1n;
      data = dbg.readMemory(session.generalVcpu, start, Number(address - start) + 4);
    }
    if (data.length < 4) return Errors.fault;
    for (let i = Math.min(Number(address - start), data.length - 4); i >= 0; i--) {
      let equal = true;
      for (let b = 0; b < 4 && equal; b++)
        equal = (data[i + b]! & mask[b]!) === (pattern[b]! & mask[b]!);
      if (equal) return `1,${(start + BigInt(i)).toString(16)}`;
    }
    return '0';
  },
};
