import { GDB_REGISTERS, encodeRegister } from '../arch/x86_64/gdb_registers';
import { parseHexNumber } from '../rsp/hex';
import { parseHexBytes } from './g';
import { Errors, type Command } from './types';

/** `p<n>`: one register of the Hg thread; n is the hex regnum of the target description. */
export const p: Command<number> = {
  prefix: 'p',
  parse: (body) => parseHexNumber(body),
  handle: ({ debugger: dbg, session }, regnum) => {
    const reg = GDB_REGISTERS[regnum];
    if (reg === undefined) return Errors.invalid;
    return encodeRegister(reg, dbg.registers(session.generalVcpu));
  },
};

/** `P<n>=<hex>`: writes one register of the Hg thread; the value must be its exact size. */
export const P: Command<{ regnum: number; value: Buffer }> = {
  prefix: 'P',
  parse: (body) => {
    const match = /^([0-9a-fA-F]+)=(.*)$/.exec(body);
    if (match === null) return undefined;
    const regnum = parseHexNumber(match[1]!);
    const value = parseHexBytes(match[2]!);
    if (regnum === undefined || value === undefined) return undefined;
    return { regnum, value };
  },
  handle: ({ debugger: dbg, session }, { regnum, value }) => {
    const reg = GDB_REGISTERS[regnum];
    if (reg === undefined || value.length !== reg.size) return Errors.invalid;
    const regs = dbg.registers(session.generalVcpu);
    reg.write(regs, value);
    dbg.setRegisters(session.generalVcpu, regs);
    return 'OK';
  },
};
