import { parseHexBigInt, parseHexNumber } from '../rsp/hex';
import { Errors, type Command } from './types';

export interface ReadMemoryRequest {
  address: bigint;
  length: number;
}

/** Parses `addr,length` as m and x share it. */
export function parseAddressLength(body: string): ReadMemoryRequest | undefined {
  const comma = body.indexOf(',');
  if (comma < 0) return undefined;
  const address = parseHexBigInt(body.slice(0, comma));
  const length = parseHexNumber(body.slice(comma + 1));
  if (address === undefined || length === undefined) return undefined;
  return { address, length };
}

/** `m addr,length`: guest-virtual memory as hex; the readable prefix, or E when none is. */
export const m: Command<ReadMemoryRequest> = {
  prefix: 'm',
  parse: parseAddressLength,
  handle: ({ debugger: dbg, session }, { address, length }) => {
    // Two hex digits a byte must fit the packet.
    const allowed = Math.min(length, Math.floor((session.packetSize - 4) / 2));
    if (allowed === 0) return '';
    const data = dbg.readMemory(session.generalVcpu, address, allowed);
    return data.length === 0 ? Errors.fault : data.toString('hex');
  },
};
