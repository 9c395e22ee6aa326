/**
 * gdb's agent-expression opcodes (gdbsupport/ax.def; the GDB manual's
 * "Agent Expressions" appendix): the byte, the operand bytes that follow
 * it in the bytecode, and the stack items it pops and pushes.
 */
export interface Opcode {
  readonly name: string;
  readonly code: number;
  /** Operand bytes after the opcode (printf's are counted by the decoder). */
  readonly operands: number;
  readonly pops: number;
  readonly pushes: number;
  /** Refused at insertion: opcodes for tracepoints and floating point, which no condition needs. */
  readonly refused?: 'trace' | 'float';
}

function op(
  name: string,
  code: number,
  operands: number,
  pops: number,
  pushes: number,
  refused?: 'trace' | 'float',
): Opcode {
  return refused === undefined
    ? { name, code, operands, pops, pushes }
    : { name, code, operands, pops, pushes, refused };
}

export const OPCODES: readonly Opcode[] = [
  op('float', 0x01, 0, 0, 0, 'float'),
  op('add', 0x02, 0, 2, 1),
  op('sub', 0x03, 0, 2, 1),
  op('mul', 0x04, 0, 2, 1),
  op('div_signed', 0x05, 0, 2, 1),
  op('div_unsigned', 0x06, 0, 2, 1),
  op('rem_signed', 0x07, 0, 2, 1),
  op('rem_unsigned', 0x08, 0, 2, 1),
  op('lsh', 0x09, 0, 2, 1),
  op('rsh_signed', 0x0a, 0, 2, 1),
  op('rsh_unsigned', 0x0b, 0, 2, 1),
  op('trace', 0x0c, 0, 2, 0, 'trace'),
  op('trace_quick', 0x0d, 1, 1, 1, 'trace'),
  op('log_not', 0x0e, 0, 1, 1),
  op('bit_and', 0x0f, 0, 2, 1),
  op('bit_or', 0x10, 0, 2, 1),
  op('bit_xor', 0x11, 0, 2, 1),
  op('bit_not', 0x12, 0, 1, 1),
  op('equal', 0x13, 0, 2, 1),
  op('less_signed', 0x14, 0, 2, 1),
  op('less_unsigned', 0x15, 0, 2, 1),
  op('ext', 0x16, 1, 1, 1),
  op('ref8', 0x17, 0, 1, 1),
  op('ref16', 0x18, 0, 1, 1),
  op('ref32', 0x19, 0, 1, 1),
  op('ref64', 0x1a, 0, 1, 1),
  op('ref_float', 0x1b, 0, 1, 1, 'float'),
  op('ref_double', 0x1c, 0, 1, 1, 'float'),
  op('ref_long_double', 0x1d, 0, 1, 1, 'float'),
  op('l_to_d', 0x1e, 0, 1, 1, 'float'),
  op('d_to_l', 0x1f, 0, 1, 1, 'float'),
  op('if_goto', 0x20, 2, 1, 0),
  op('goto', 0x21, 2, 0, 0),
  op('const8', 0x22, 1, 0, 1),
  op('const16', 0x23, 2, 0, 1),
  op('const32', 0x24, 4, 0, 1),
  op('const64', 0x25, 8, 0, 1),
  op('reg', 0x26, 2, 0, 1),
  op('end', 0x27, 0, 0, 0),
  op('dup', 0x28, 0, 1, 2),
  op('pop', 0x29, 0, 1, 0),
  op('zero_ext', 0x2a, 1, 1, 1),
  op('swap', 0x2b, 0, 2, 2),
  op('getv', 0x2c, 2, 0, 1, 'trace'),
  op('setv', 0x2d, 2, 1, 1, 'trace'),
  op('tracev', 0x2e, 2, 0, 1, 'trace'),
  op('tracenz', 0x2f, 0, 2, 0, 'trace'),
  op('trace16', 0x30, 2, 1, 1, 'trace'),
  // 0x31 is unassigned. pick and printf pop a number their operands give.
  op('pick', 0x32, 1, 0, 1),
  op('rot', 0x33, 0, 3, 3),
  op('printf', 0x34, 3, 0, 0),
];

/** The opcodes by byte; undefined for a byte that is none. */
export const OPCODE_BY_CODE: readonly (Opcode | undefined)[] = (() => {
  const table: (Opcode | undefined)[] = new Array<Opcode | undefined>(256).fill(undefined);
  for (const opcode of OPCODES) table[opcode.code] = opcode;
  return table;
})();

/** Opcode bytes the evaluator switches on. */
export const Op = {
  add: 0x02,
  sub: 0x03,
  mul: 0x04,
  divSigned: 0x05,
  divUnsigned: 0x06,
  remSigned: 0x07,
  remUnsigned: 0x08,
  lsh: 0x09,
  rshSigned: 0x0a,
  rshUnsigned: 0x0b,
  logNot: 0x0e,
  bitAnd: 0x0f,
  bitOr: 0x10,
  bitXor: 0x11,
  bitNot: 0x12,
  equal: 0x13,
  lessSigned: 0x14,
  lessUnsigned: 0x15,
  ext: 0x16,
  ref8: 0x17,
  ref16: 0x18,
  ref32: 0x19,
  ref64: 0x1a,
  ifGoto: 0x20,
  goto: 0x21,
  const8: 0x22,
  const16: 0x23,
  const32: 0x24,
  const64: 0x25,
  reg: 0x26,
  end: 0x27,
  dup: 0x28,
  pop: 0x29,
  zeroExt: 0x2a,
  swap: 0x2b,
  pick: 0x32,
  rot: 0x33,
  printf: 0x34,
} as const;
