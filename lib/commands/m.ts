import { hexPayload, parseHexBigInt, parseHexNumber } from '../rsp/hex';
import { Errors, type Command, type Session } from './types';

export interface ReadMemoryRequest {
  address: bigint;
  length: number;
}

export interface WriteMemoryRequest {
  address: bigint;
  data: Buffer;
}

/** Parses `addr,length` as m, M, x and X share it. */
export function parseAddressLength(body: string): ReadMemoryRequest | undefined {
  const comma = body.indexOf(',');
  if (comma < 0) return undefined;
  const address = parseHexBigInt(body.slice(0, comma));
  const length = parseHexNumber(body.slice(comma + 1));
  if (address === undefined || length === undefined) return undefined;
  return { address, length };
}

/**
 * The session's buffer for a bulk read of `length` bytes, grown when short.
 * m and x read into it rather than into a new buffer a request (a bulk
 * read then costs no allocation and no first-touch page faults). Their
 * reply views it until it is framed, which happens before the connection
 * dispatches its next packet: one buffer per session is never shared.
 */
export function bulkReadBuffer(session: Session, length: number): Buffer {
  if (session.readBuffer === undefined || session.readBuffer.length < length) {
    session.readBuffer = session.connectionReadBuffer?.(length) ?? Buffer.allocUnsafeSlow(length);
  }
  return session.readBuffer;
}

/** `m addr,length`: guest-virtual memory as hex; the readable prefix, or E when none is. */
export const m: Command<ReadMemoryRequest> = {
  prefix: 'm',
  parse: parseAddressLength,
  handle: ({ debugger: dbg, session }, { address, length }) => {
    // Two hex digits a byte must fit the packet.
    const allowed = Math.min(length, Math.floor((session.packetSize - 4) / 2));
    if (allowed === 0) return '';
    const into = bulkReadBuffer(session, allowed);
    const data = dbg.readMemory(session.generalVcpu, address, allowed, into);
    return data.length === 0 ? Errors.fault : hexPayload(data);
  },
};

/** `M addr,length:XX...`: writes guest-virtual memory, all or nothing. */
export const M: Command<WriteMemoryRequest> = {
  prefix: 'M',
  parse: (body) => {
    const colon = body.indexOf(':');
    if (colon < 0) return undefined;
    const range = parseAddressLength(body.slice(0, colon));
    const hex = body.slice(colon + 1);
    // The length must match the data, which the packet size already bounds.
    if (range === undefined || hex.length !== range.length * 2 || !/^[0-9a-fA-F]*$/.test(hex)) {
      return undefined;
    }
    return { address: range.address, data: Buffer.from(hex, 'hex') };
  },
  handle: ({ debugger: dbg, session }, { address, data }) =>
    dbg.writeMemory(session.generalVcpu, address, data) ? 'OK' : Errors.fault,
};
