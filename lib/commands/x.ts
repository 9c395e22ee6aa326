import { binaryPayload, unescapeBinary } from '../rsp/binary';
import {
  bulkReadBuffer,
  parseAddressLength,
  type ReadMemoryRequest,
  type WriteMemoryRequest,
} from './m';
import { Errors, type Command } from './types';

/**
 * `x addr,length`: binary read. gdb (which offers `binary-upload+` in its
 * qSupported) expects `b` before the data; lldb sends x without it and
 * expects the bare data. Either way an unreadable start is E.
 */
export const x: Command<ReadMemoryRequest> = {
  prefix: 'x',
  parse: parseAddressLength,
  handle: ({ debugger: dbg, session }, { address, length }) => {
    const prefix = session.clientFeatures?.includes('binary-upload+') ? 'b' : '';
    // The reply (prefix and escaped data) must fit the packet: as many bytes
    // as fit once escaped are sent, and the debugger asks again for the rest.
    const room = session.packetSize - 4;
    const allowed = Math.min(length, room - prefix.length);
    if (allowed <= 0) return prefix === '' ? 'OK' : 'b';
    const into = bulkReadBuffer(session, allowed);
    const data = dbg.readMemory(session.generalVcpu, address, allowed, into);
    if (data.length === 0) return Errors.fault;
    return binaryPayload(data, prefix, room);
  },
};

/** `X addr,length:binary`: writes guest-virtual memory, all or nothing; `X addr,0:` probes. */
export const X: Command<WriteMemoryRequest> = {
  prefix: 'X',
  parse: (body) => {
    const colon = body.indexOf(':');
    if (colon < 0) return undefined;
    const range = parseAddressLength(body.slice(0, colon));
    const data = unescapeBinary(Buffer.from(body.slice(colon + 1), 'latin1'));
    if (range === undefined || data === undefined || data.length !== range.length) return undefined;
    return { address: range.address, data };
  },
  handle: ({ debugger: dbg, session }, { address, data }) => {
    if (data.length === 0) return 'OK';
    return dbg.writeMemory(session.generalVcpu, address, data) ? 'OK' : Errors.fault;
  },
};
