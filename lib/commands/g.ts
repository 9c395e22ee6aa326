import { CORE_REGISTERS, encodeRegister } from '../arch/x86_64/gdb_registers';
import type { Command } from './types';

/** `g`: every register of the current thread, in the target description's order. */
export const g: Command<true> = {
  prefix: 'g',
  parse: (body) => (body === '' ? true : undefined),
  handle: ({ debugger: dbg, session }) => {
    const regs = dbg.registers(session.generalVcpu);
    return CORE_REGISTERS.map((reg) => encodeRegister(reg, regs)).join('');
  },
};
