import type { Debugger } from '../debugger/debugger';
import { parseHexBigInt } from '../rsp/hex';
import { Errors, type Command } from './types';

export interface SearchRequest {
  address: bigint;
  length: bigint;
  pattern: Buffer;
}

/** Bytes read per look: big enough to be quick, small enough to bound memory. */
const WINDOW = 0x10000;

/**
 * Finds `pattern` in guest-virtual [address, address + length). 'fault' when
 * a byte of the range that could hold a match cannot be read (gdb's own
 * search stops with an error there too).
 */
export function searchMemory(
  dbg: Debugger,
  vcpu: number,
  { address, length, pattern }: SearchRequest,
): bigint | 'fault' | undefined {
  if (pattern.length === 0) return address;
  if (BigInt(pattern.length) > length) return undefined;
  const end = address + length;
  let start = address;
  while (start + BigInt(pattern.length) <= end) {
    const want = Number(end - start < BigInt(WINDOW) ? end - start : BigInt(WINDOW));
    const data = dbg.readMemory(vcpu, start, want);
    if (data.length < Math.min(want, pattern.length)) return 'fault';
    const hit = data.indexOf(pattern);
    if (hit >= 0) return start + BigInt(hit);
    if (data.length < want) return 'fault'; // unreadable before the range ends
    // The next window overlaps this one so that a match across the seam is seen.
    start += BigInt(Math.max(1, data.length - pattern.length + 1));
  }
  return undefined;
}

/** `qSearch:memory:addr;length;pattern`: `1,addr` for the first match, `0` for none. */
export const qSearchMemory: Command<SearchRequest> = {
  prefix: 'qSearch:memory:',
  parse: (body) => {
    const [address, length, hex, ...rest] = body.split(';');
    if (rest.length > 0 || address === undefined || length === undefined || hex === undefined) {
      return undefined;
    }
    const parsed = { address: parseHexBigInt(address), length: parseHexBigInt(length) };
    if (parsed.address === undefined || parsed.length === undefined) return undefined;
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
    return { address: parsed.address, length: parsed.length, pattern: Buffer.from(hex, 'hex') };
  },
  handle: ({ debugger: dbg, session }, request) => {
    const found = searchMemory(dbg, session.generalVcpu, request);
    if (found === 'fault') return Errors.fault;
    return found === undefined ? '0' : `1,${found.toString(16)}`;
  },
};
