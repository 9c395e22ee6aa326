import {
  REGISTER_BYTES,
  decodeAllRegisters,
  encodeAllRegisters,
} from '../arch/x86_64/gdb_registers';
import type { Command } from './types';

/** Strict hex to bytes: an even number of hex digits, nothing else; undefined otherwise. */
export function parseHexBytes(text: string): Buffer | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  return Buffer.from(text, 'hex');
}

/** `g`: every register of the Hg thread, in the target description's regnum order. */
export const g: Command<true> = {
  prefix: 'g',
  parse: (body) => (body === '' ? true : undefined),
  handle: ({ debugger: dbg, session }) =>
    encodeAllRegisters(dbg.registers(session.generalVcpu)).toString('hex'),
};

/**
 * `G<hex>`: writes every register of the Hg thread. The data must cover all
 * of them exactly, as `g` sends them; anything shorter, longer or not hex is
 * malformed (a partial write would leave registers gdb did not mean to set).
 */
export const G: Command<Buffer> = {
  prefix: 'G',
  parse: (body) => {
    if (body.length !== REGISTER_BYTES * 2) return undefined;
    return parseHexBytes(body);
  },
  handle: ({ debugger: dbg, session }, bytes) => {
    const regs = dbg.registers(session.generalVcpu);
    decodeAllRegisters(regs, bytes);
    dbg.setRegisters(session.generalVcpu, regs);
    return 'OK';
  },
};
