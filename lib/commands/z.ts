import { parseHexBigInt, parseHexNumber } from '../rsp/hex';
import { Errors, type Command } from './types';

export interface BreakpointRequest {
  type: number;
  address: bigint;
  kind: number;
}

/** Parses `type,addr,kind[;cond...]` (conditions and commands are not supported). */
function parseBreakpoint(body: string): BreakpointRequest | undefined {
  const [type, address, kind, ...rest] = body.split(',');
  if (rest.length > 0 || type === undefined || address === undefined || kind === undefined) {
    return undefined;
  }
  const parsed = {
    type: parseHexNumber(type),
    address: parseHexBigInt(address),
    kind: parseHexNumber(kind),
  };
  if (parsed.type === undefined || parsed.address === undefined || parsed.kind === undefined) {
    return undefined;
  }
  return parsed as BreakpointRequest;
}

/** `Z0,addr,kind`: a software breakpoint (int3) at a guest-virtual address. */
export const insertBreakpoint: Command<BreakpointRequest> = {
  prefix: 'Z',
  parse: parseBreakpoint,
  handle: ({ debugger: dbg, session }, { type, address }) => {
    if (type !== 0) return ''; // Z1-Z4: not offered here
    return dbg.insertBreakpoint(session.generalVcpu, address) ? 'OK' : Errors.fault;
  },
};

/** `z0,addr,kind`: removes it; removing one that is not there is fine. */
export const removeBreakpoint: Command<BreakpointRequest> = {
  prefix: 'z',
  parse: parseBreakpoint,
  handle: ({ debugger: dbg, session }, { type, address }) => {
    if (type !== 0) return '';
    return dbg.removeBreakpoint(session.generalVcpu, address) ? 'OK' : Errors.fault;
  },
};
