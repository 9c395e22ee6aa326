import type { Debugger } from '../debugger/debugger';
import { unescapeBinary } from '../rsp/binary';
import { parseHexBigInt } from '../rsp/hex';
import { Errors, type Command } from './types';

export interface SearchRequest {
  address: bigint;
  length: bigint;
  pattern: Buffer;
}

/** Bytes read per look, into one buffer kept for the search. */
const WINDOW = 0x10000;
/** Looks per slice: the event loop runs between slices (Ctrl-C, a second client). */
const WINDOWS_PER_SLICE = 16;
const ADDRESS_END = 1n << 64n;

/** How a search ended: a match, none, or an unreadable start. */
export type SearchResult = bigint | 'fault' | undefined;

/**
 * Finds `pattern` in guest-virtual [address, address + length), in slices of
 * WINDOWS_PER_SLICE reads with the event loop running between them, reading
 * into one buffer (no allocation a window, no guest page written). The range
 * ends at the first unreadable byte (the end of guest RAM, an unmapped page),
 * so any length is bounded by guest RAM; only an unreadable start is 'fault'.
 * `cancelled` is asked between slices: true ends the search with 'cancelled'.
 */
export async function searchMemory(
  dbg: Debugger,
  vcpu: number,
  { address, length, pattern }: SearchRequest,
  cancelled: () => boolean = () => false,
): Promise<SearchResult | 'cancelled'> {
  if (pattern.length === 0) return address;
  const end = address + length < ADDRESS_END ? address + length : ADDRESS_END;
  if (BigInt(pattern.length) > end - address) return undefined;
  const buffer = Buffer.allocUnsafe(Math.max(WINDOW, pattern.length));
  let start = address;
  for (let look = 1; start + BigInt(pattern.length) <= end; look++) {
    const left = end - start;
    const want = left < BigInt(buffer.length) ? Number(left) : buffer.length;
    const data = dbg.readMemory(vcpu, start, want, buffer);
    if (data.length < Math.min(want, pattern.length))
      return start === address ? 'fault' : undefined;
    const hit = data.indexOf(pattern);
    if (hit >= 0) return start + BigInt(hit);
    if (data.length < want) return undefined; // the readable range ends here
    // The next window overlaps this one so that a match across the seam is seen.
    start += BigInt(Math.max(1, data.length - pattern.length + 1));
    if (look % WINDOWS_PER_SLICE === 0) {
      await new Promise((resolve) => setImmediate(resolve));
      if (cancelled()) return 'cancelled';
    }
  }
  return undefined;
}

/**
 * `qSearch:memory:addr;length;pattern`, the pattern as escaped binary (as
 * in X): `1,addr` for the first match, `0` for none, E0e when the start is
 * unreadable, E04 when a Ctrl-C arrived during the search.
 */
export const qSearchMemory: Command<SearchRequest> = {
  prefix: 'qSearch:memory:',
  parse: (body) => {
    // The pattern is binary and may hold ';': only the first two separate.
    const first = body.indexOf(';');
    const second = first < 0 ? -1 : body.indexOf(';', first + 1);
    if (second < 0) return undefined;
    const address = parseHexBigInt(body.slice(0, first));
    const length = parseHexBigInt(body.slice(first + 1, second));
    const pattern = unescapeBinary(Buffer.from(body.slice(second + 1), 'latin1'));
    if (address === undefined || length === undefined || pattern === undefined) return undefined;
    return { address, length, pattern };
  },
  handle: async ({ debugger: dbg, session }, request) => {
    const interrupts = session.interrupts ?? 0;
    const found = await searchMemory(
      dbg,
      session.generalVcpu,
      request,
      () => (session.interrupts ?? 0) !== interrupts,
    );
    if (found === 'fault') return Errors.fault;
    if (found === 'cancelled') return Errors.interrupted;
    return found === undefined ? '0' : `1,${found.toString(16)}`;
  },
};
