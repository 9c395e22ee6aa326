import { parseHexBigInt, parseHexNumber } from '../rsp/hex';
import type { Debugger } from '../debugger/debugger';
import type { WatchKind } from '../debugger/hw_slots';
import { Errors, type Command } from './types';

export interface BreakpointRequest {
  type: number;
  address: bigint;
  kind: number;
}

/**
 * The kinds each type takes: Z0 and Z1 the length of x86's int3 (1, as gdb
 * and lldb send it), Z2-Z4 a watched length DR7 can take.
 */
const KINDS_OF_TYPE: readonly (readonly number[])[] = [
  [1],
  [1],
  [1, 2, 4, 8],
  [1, 2, 4, 8],
  [1, 2, 4, 8],
];

/**
 * Parses `type,addr,kind[;...]`: type one digit 0-4, addr hex, kind one the
 * type takes. What follows a `;` (agent-expression conditions `;X...`,
 * commands `;cmds:...`) is split off here for the parser of that list; none
 * is accepted yet.
 */
function parseBreakpoint(body: string): BreakpointRequest | undefined {
  const semicolon = body.indexOf(';');
  const head = semicolon < 0 ? body : body.slice(0, semicolon);
  const suffix = semicolon < 0 ? undefined : body.slice(semicolon);
  if (suffix !== undefined) return undefined; // conditions and commands: not yet
  const fields = head.split(',');
  if (fields.length !== 3) return undefined;
  const [typeText, addressText, kindText] = fields as [string, string, string];
  if (!/^[0-4]$/.test(typeText)) return undefined;
  const type = Number(typeText);
  const address = parseHexBigInt(addressText);
  const kind = parseHexNumber(kindText);
  if (address === undefined || kind === undefined || !KINDS_OF_TYPE[type]!.includes(kind)) {
    return undefined;
  }
  return { type, address, kind };
}

/** Z1-Z4 types: what each asks the debug slots for. */
const HARDWARE_KINDS: Record<number, 'exec' | WatchKind> = {
  1: 'exec',
  2: 'write',
  3: 'read',
  4: 'access',
};

/** A watchpoint's length: 1, 2, 4 or 8 bytes, the address aligned to it (as DR7 requires). */
function watchLength(address: bigint, kind: number): 1 | 2 | 4 | 8 | undefined {
  if (kind !== 1 && kind !== 2 && kind !== 4 && kind !== 8) return undefined;
  return address % BigInt(kind) === 0n ? kind : undefined;
}

/**
 * Z1-Z4 and z1-z4 on the debug slots: empty when the backend has none of
 * that kind (gdb then falls back), E16 for a length or alignment DR7 cannot
 * take, E1c (ENOSPC) when every slot is in use.
 */
function handleHardware(dbg: Debugger, insert: boolean, request: BreakpointRequest): string {
  const kind = HARDWARE_KINDS[request.type];
  if (kind === undefined || !dbg.hardware.supports(kind)) return '';
  const length = kind === 'exec' ? 1 : watchLength(request.address, request.kind);
  if (length === undefined) return Errors.invalid;
  if (!insert) {
    dbg.removeHardware(kind, request.address, length);
    return 'OK';
  }
  switch (dbg.insertHardware(kind, request.address, length)) {
    case 'ok':
      return 'OK';
    case 'full':
      return Errors.noSpace;
    case 'unsupported':
      return '';
  }
}

/** `Z0,addr,kind`: a software breakpoint (int3) at a guest-virtual address; Z1-Z4 above. */
export const insertBreakpoint: Command<BreakpointRequest> = {
  prefix: 'Z',
  parse: parseBreakpoint,
  handle: ({ debugger: dbg, session }, request) => {
    if (request.type !== 0) return handleHardware(dbg, true, request);
    return dbg.insertBreakpoint(session.generalVcpu, request.address) ? 'OK' : Errors.fault;
  },
};

/** `z0,addr,kind`: removes it; removing one that is not there is fine. */
export const removeBreakpoint: Command<BreakpointRequest> = {
  prefix: 'z',
  parse: parseBreakpoint,
  handle: ({ debugger: dbg, session }, request) => {
    if (request.type !== 0) return handleHardware(dbg, false, request);
    return dbg.removeBreakpoint(session.generalVcpu, request.address) ? 'OK' : Errors.fault;
  },
};
