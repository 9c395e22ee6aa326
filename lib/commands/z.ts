import { parseExpressionList } from '../agent/expression_list';
import { parseHexBigInt, parseHexNumber } from '../rsp/hex';
import type { Debugger } from '../debugger/debugger';
import type { HitProgram } from '../debugger/hit_program';
import type { WatchKind } from '../debugger/hw_slots';
import { log } from '../log';
import { compileHitProgram } from './breakpoint_program';
import { Errors, type Command } from './types';

export interface BreakpointRequest {
  type: number;
  address: bigint;
  kind: number;
  /** Z0/Z1 conditions and commands, verified, for the stub to evaluate at each hit. */
  program?: HitProgram;
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
 * Parses `type,addr,kind[;cond_list][;cmds:persist,cmd_list]`: type one
 * digit 0-4, addr hex, kind one the type takes. The conditions and commands
 * (agent expressions, Z0 and Z1 only, and only on insertion) are verified
 * here: a malformed one refuses the packet, with the reason logged.
 */
function parseBreakpoint(body: string, insert: boolean): BreakpointRequest | undefined {
  const semicolon = body.indexOf(';');
  const head = semicolon < 0 ? body : body.slice(0, semicolon);
  const suffix = semicolon < 0 ? undefined : body.slice(semicolon);
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
  if (suffix === undefined) return { type, address, kind };
  if (!insert || type > 1) return undefined;
  const list = parseExpressionList(suffix);
  const program = typeof list === 'string' ? list : compileHitProgram(list);
  if (typeof program === 'string') {
    log.rsp(`Z${type} at 0x${address.toString(16)} refused: ${program}`);
    return undefined;
  }
  return program === undefined ? { type, address, kind } : { type, address, kind, program };
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
  switch (dbg.insertHardware(kind, request.address, length, request.program)) {
    case 'ok':
      return 'OK';
    case 'full':
      return Errors.noSpace;
    case 'unsupported':
      return '';
  }
}

/**
 * `Z0,addr,kind[;conditions][;cmds:...]`: a software breakpoint (int3) at a
 * guest-virtual address; Z1-Z4 above. Inserting again where one is replaces
 * its conditions and commands (gdb does so when they change).
 */
export const insertBreakpoint: Command<BreakpointRequest> = {
  prefix: 'Z',
  parse: (body) => parseBreakpoint(body, true),
  handle: ({ debugger: dbg, session }, request) => {
    if (request.type !== 0) return handleHardware(dbg, true, request);
    return dbg.insertBreakpoint(session.generalVcpu, request.address, request.program)
      ? 'OK'
      : Errors.fault;
  },
};

/** `z0,addr,kind`: removes it; removing one that is not there is fine. */
export const removeBreakpoint: Command<BreakpointRequest> = {
  prefix: 'z',
  parse: (body) => parseBreakpoint(body, false),
  handle: ({ debugger: dbg, session }, request) => {
    if (request.type !== 0) return handleHardware(dbg, false, request);
    return dbg.removeBreakpoint(session.generalVcpu, request.address) ? 'OK' : Errors.fault;
  },
};
