import { FEATURES, type GdbFeature, type GdbRegister } from '../arch/x86_64/gdb_registers';
import { parseHexNumber } from '../rsp/hex';
import type { Command } from './types';

/*
 * `qRegisterInfo<n>`: lldb's register description, one register per packet,
 * for lldb builds without libxml2. The numbering is the target description's
 * (so p/P agree with target.xml), and so are names and sizes; what lldb needs
 * beyond it (encoding, register sets, DWARF numbers, generic roles) is here.
 * lldb 14 built with libxml2 (Debian's) reads target.xml and never sends it.
 */

/** DWARF (and eh_frame) register numbers of the x86-64 psABI. */
const DWARF: Record<string, number> = {
  rax: 0,
  rdx: 1,
  rcx: 2,
  rbx: 3,
  rsi: 4,
  rdi: 5,
  rbp: 6,
  rsp: 7,
  ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`r${i + 8}`, i + 8])),
  rip: 16,
  ...Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`xmm${i}`, 17 + i])),
  ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`st${i}`, 33 + i])),
  eflags: 49,
  es: 50,
  cs: 51,
  ss: 52,
  ds: 53,
  fs: 54,
  gs: 55,
  fs_base: 58,
  gs_base: 59,
};

/** The registers lldb must find by role: pc, stack and frame pointers, flags, arguments. */
const GENERIC: Record<string, string> = {
  rip: 'pc',
  rsp: 'sp',
  rbp: 'fp',
  eflags: 'flags',
  rdi: 'arg1',
  rsi: 'arg2',
  rdx: 'arg3',
  rcx: 'arg4',
  r8: 'arg5',
  r9: 'arg6',
};

function registerSet(feature: GdbFeature, reg: GdbRegister): string {
  if (reg.type === 'i387_ext' || reg.group === 'float') return 'Floating Point Registers';
  if (feature.name === 'org.gnu.gdb.i386.sse') return 'SSE Registers';
  if (reg.group === 'system') return 'System Registers';
  return 'General Purpose Registers';
}

function encoding(reg: GdbRegister): string {
  if (reg.type === 'i387_ext') return 'encoding:ieee754;format:float';
  if (reg.type === 'vec128') return 'encoding:vector;format:vector-uint8';
  return 'encoding:uint;format:hex';
}

function describe(feature: GdbFeature, reg: GdbRegister, offset: number): string {
  const fields = [
    `name:${reg.name}`,
    `bitsize:${reg.size * 8}`,
    `offset:${offset}`,
    encoding(reg),
    `set:${registerSet(feature, reg)}`,
  ];
  const dwarf = DWARF[reg.name];
  if (dwarf !== undefined) fields.push(`ehframe:${dwarf}`, `dwarf:${dwarf}`);
  const generic = GENERIC[reg.name];
  if (generic !== undefined) fields.push(`generic:${generic}`);
  return fields.join(';') + ';';
}

function describeAll(): string[] {
  const out: string[] = [];
  let offset = 0;
  for (const feature of FEATURES) {
    for (const reg of feature.registers) {
      out.push(describe(feature, reg, offset));
      offset += reg.size;
    }
  }
  return out;
}

/** Each register's reply, by regnum (built once: the table never changes). */
export const REGISTER_INFO: readonly string[] = describeAll();

/** `qRegisterInfo<hex n>`: register n, or E45 past the last (lldb stops asking there). */
export const qRegisterInfo: Command<number> = {
  prefix: 'qRegisterInfo',
  argumentFollows: true,
  parse: parseHexNumber,
  handle: (_context, regnum) => REGISTER_INFO[regnum] ?? 'E45',
};
