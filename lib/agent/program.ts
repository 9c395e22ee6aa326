import { OPCODE_BY_CODE, Op } from './opcodes';
import { directiveCount, parseFormat, type FormatPiece } from './printf_format';

/**
 * An agent expression that passed verification: every instruction decodes
 * inside the bytecode, every jump lands on an instruction, the stack height
 * is the same on every path into an instruction and stays within
 * MAX_STACK, no path runs off the end, `end` has a value to return, every
 * register exists and every printf format can be printed. What is left to
 * fail at a hit is guest memory, division by zero and the instruction
 * budget.
 */
export interface AgentProgram {
  readonly bytes: Uint8Array;
  /** The deepest the stack gets on any path. */
  readonly maxStack: number;
  /** printf's parsed format, by the printf's offset. */
  readonly formats: ReadonlyMap<number, readonly FormatPiece[]>;
}

/** Deepest stack a program may use (gdbserver's is 100). */
export const MAX_STACK = 256;
/** Longest program accepted: jump targets are 16-bit offsets. */
export const MAX_PROGRAM_BYTES = 0x10000;

export type Verified = { program: AgentProgram } | { error: string };

/** How long the instruction at `pc` is, operands included; undefined past the end. */
function instructionLength(bytes: Uint8Array, pc: number): number | undefined {
  const opcode = OPCODE_BY_CODE[bytes[pc]!];
  if (opcode === undefined) return undefined;
  if (opcode.code === Op.printf) {
    if (pc + 4 > bytes.length) return undefined;
    return 4 + ((bytes[pc + 2]! << 8) | bytes[pc + 3]!);
  }
  return 1 + opcode.operands;
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}

/**
 * Verifies `bytes` as one agent expression. `registerExists` says whether
 * `reg n` names a register the evaluator can push (at most 8 bytes). A
 * condition must leave a value at `end`; a command (gdb's dprintf: its
 * printf pops everything) need not.
 */
export function verifyProgram(
  bytes: Uint8Array,
  registerExists: (n: number) => boolean,
  use: 'condition' | 'command',
): Verified {
  if (bytes.length === 0) return { error: 'empty expression' };
  if (bytes.length > MAX_PROGRAM_BYTES) return { error: `longer than ${MAX_PROGRAM_BYTES} bytes` };
  // Linear decoding first: the instruction starts.
  const starts = new Uint8Array(bytes.length);
  const formats = new Map<number, FormatPiece[]>();
  for (let pc = 0; pc < bytes.length;) {
    const code = bytes[pc]!;
    const opcode = OPCODE_BY_CODE[code];
    if (opcode === undefined) return { error: `unknown opcode ${hex(code)} at ${pc}` };
    if (opcode.refused === 'trace') {
      return { error: `${opcode.name} (${hex(code)}) at ${pc} is for tracepoints only` };
    }
    if (opcode.refused === 'float') {
      return { error: `${opcode.name} (${hex(code)}) at ${pc}: floating point is not supported` };
    }
    const length = instructionLength(bytes, pc);
    if (length === undefined || pc + length > bytes.length) {
      return { error: `${opcode.name} at ${pc} runs past the end` };
    }
    starts[pc] = 1;
    if (code === Op.reg) {
      const n = (bytes[pc + 1]! << 8) | bytes[pc + 2]!;
      if (!registerExists(n)) return { error: `reg ${n} at ${pc}: no such register` };
    } else if (code === Op.ext && bytes[pc + 1] === 0) {
      return { error: `ext 0 at ${pc}` };
    } else if (code === Op.printf) {
      const size = length - 4;
      if (size === 0 || bytes[pc + length - 1] !== 0) {
        return { error: `printf at ${pc}: the format is not NUL-terminated` };
      }
      const text = Buffer.from(bytes.subarray(pc + 4, pc + length - 1)).toString('latin1');
      if (text.includes('\0')) return { error: `printf at ${pc}: a NUL inside the format` };
      const pieces = parseFormat(text);
      if (typeof pieces === 'string') return { error: `printf at ${pc}: ${pieces}` };
      if (directiveCount(pieces) !== bytes[pc + 1]) {
        return { error: `printf at ${pc}: ${bytes[pc + 1]} arguments for this format` };
      }
      formats.set(pc, pieces);
    }
    pc += length;
  }
  // Then the stack height along every path.
  const heights = new Int32Array(bytes.length).fill(-1);
  const work: number[] = [0];
  heights[0] = 0;
  let maxStack = 0;
  const reach = (target: number, height: number, from: number): string | undefined => {
    if (target >= bytes.length) return `the path through ${from} runs off the end`;
    if (starts[target] !== 1) return `jump at ${from} into the middle of an instruction`;
    if (heights[target] === -1) {
      heights[target] = height;
      work.push(target);
    } else if (heights[target] !== height) {
      return `stack heights ${heights[target]} and ${height} meet at ${target}`;
    }
    return undefined;
  };
  while (work.length > 0) {
    const pc = work.pop()!;
    const code = bytes[pc]!;
    const opcode = OPCODE_BY_CODE[code]!;
    const height = heights[pc]!;
    let pops = opcode.pops;
    let pushes = opcode.pushes;
    if (code === Op.pick) {
      pops = bytes[pc + 1]! + 1;
      pushes = pops + 1;
    } else if (code === Op.printf) {
      pops = 2 + bytes[pc + 1]!;
    } else if (code === Op.end && use === 'condition') {
      pops = 1;
    }
    if (height < pops) return { error: `${opcode.name} at ${pc} needs ${pops} stack items` };
    const after = height - pops + pushes;
    if (after > MAX_STACK) return { error: `stack deeper than ${MAX_STACK} at ${pc}` };
    maxStack = Math.max(maxStack, after);
    if (code === Op.end) continue;
    const next = pc + instructionLength(bytes, pc)!;
    const failed =
      code === Op.goto
        ? reach((bytes[pc + 1]! << 8) | bytes[pc + 2]!, after, pc)
        : code === Op.ifGoto
          ? (reach((bytes[pc + 1]! << 8) | bytes[pc + 2]!, after, pc) ?? reach(next, after, pc))
          : reach(next, after, pc);
    if (failed !== undefined) return { error: failed };
  }
  return { program: { bytes, maxStack, formats } };
}
