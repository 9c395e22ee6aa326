import { Op } from './opcodes';
import { formatPieces, MAX_STRING_BYTES } from './printf_format';
import type { AgentProgram } from './program';

/** What an agent expression may look at: the hit vCPU's registers and guest memory. */
export interface AgentEnvironment {
  /** A register by gdb's number (one verifyProgram accepted), zero-extended to 64 bits. */
  register(n: number): bigint;
  /** `length` bytes of guest memory at `address`; undefined unless all are readable. */
  read(address: bigint, length: number): Uint8Array | undefined;
}

export type Evaluation =
  | { ok: true; value: bigint; output: string; steps: number }
  | { ok: false; error: string; output: string; steps: number };

/** Instructions one evaluation may run: a backward goto cannot hold the stub. */
export const MAX_STEPS = 65536;
/** printf output kept per evaluation; the rest is cut with a note. */
export const MAX_OUTPUT = 16384;

const MASK = 0xffffffffffffffffn;
/** Bytes of a %s string read at a time. */
const STRING_PIECE = 64;

class EvaluationError extends Error {}

function signed(value: bigint): bigint {
  return BigInt.asIntN(64, value);
}

function readLittleEndian(bytes: Uint8Array, length: number): bigint {
  let value = 0n;
  for (let i = length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  return value;
}

/**
 * Runs a verified program. Values are 64-bit two's complement (unsigned
 * bigints here). Division or remainder by zero, an unreadable address and
 * the instruction budget end it with an error; shifts by 64 or more give 0
 * (all sign bits for rsh_signed); INT64_MIN / -1 wraps.
 */
export function evaluate(
  program: AgentProgram,
  env: AgentEnvironment,
  maxSteps = MAX_STEPS,
): Evaluation {
  const bytes = program.bytes;
  const stack: bigint[] = new Array<bigint>(program.maxStack + 1);
  let sp = 0; // items on the stack
  let pc = 0;
  let steps = 0;
  let output = '';
  const pop = (): bigint => stack[--sp]!;
  const push = (value: bigint): void => {
    stack[sp++] = value;
  };
  const operand16 = (): number => (bytes[pc + 1]! << 8) | bytes[pc + 2]!;
  const ref = (length: number): void => {
    const address = stack[sp - 1]!;
    const data = env.read(address, length);
    if (data === undefined || data.length < length) {
      throw new EvaluationError(`cannot read ${length} bytes at 0x${address.toString(16)}`);
    }
    stack[sp - 1] = readLittleEndian(data, length);
  };
  const divisor = (): bigint => {
    const b = stack[sp - 1]!;
    if (b === 0n) throw new EvaluationError('division by zero');
    return b;
  };
  try {
    for (;;) {
      if (++steps > maxSteps) throw new EvaluationError(`more than ${maxSteps} instructions`);
      const code = bytes[pc]!;
      switch (code) {
        case Op.add: {
          const b = pop();
          stack[sp - 1] = (stack[sp - 1]! + b) & MASK;
          pc += 1;
          break;
        }
        case Op.sub: {
          const b = pop();
          stack[sp - 1] = (stack[sp - 1]! - b) & MASK;
          pc += 1;
          break;
        }
        case Op.mul: {
          const b = pop();
          stack[sp - 1] = (stack[sp - 1]! * b) & MASK;
          pc += 1;
          break;
        }
        case Op.divSigned: {
          const b = signed(divisor());
          sp--;
          stack[sp - 1] = (signed(stack[sp - 1]!) / b) & MASK;
          pc += 1;
          break;
        }
        case Op.divUnsigned: {
          const b = divisor();
          sp--;
          stack[sp - 1] = stack[sp - 1]! / b;
          pc += 1;
          break;
        }
        case Op.remSigned: {
          const b = signed(divisor());
          sp--;
          stack[sp - 1] = (signed(stack[sp - 1]!) % b) & MASK;
          pc += 1;
          break;
        }
        case Op.remUnsigned: {
          const b = divisor();
          sp--;
          stack[sp - 1] = stack[sp - 1]! % b;
          pc += 1;
          break;
        }
        case Op.lsh: {
          const b = pop();
          stack[sp - 1] = b >= 64n ? 0n : (stack[sp - 1]! << b) & MASK;
          pc += 1;
          break;
        }
        case Op.rshSigned: {
          const b = pop();
          stack[sp - 1] = (signed(stack[sp - 1]!) >> (b >= 64n ? 63n : b)) & MASK;
          pc += 1;
          break;
        }
        case Op.rshUnsigned: {
          const b = pop();
          stack[sp - 1] = b >= 64n ? 0n : stack[sp - 1]! >> b;
          pc += 1;
          break;
        }
        case Op.logNot:
          stack[sp - 1] = stack[sp - 1] === 0n ? 1n : 0n;
          pc += 1;
          break;
        case Op.bitAnd: {
          const b = pop();
          stack[sp - 1] = stack[sp - 1]! & b;
          pc += 1;
          break;
        }
        case Op.bitOr: {
          const b = pop();
          stack[sp - 1] = stack[sp - 1]! | b;
          pc += 1;
          break;
        }
        case Op.bitXor: {
          const b = pop();
          stack[sp - 1] = stack[sp - 1]! ^ b;
          pc += 1;
          break;
        }
        case Op.bitNot:
          stack[sp - 1] = stack[sp - 1]! ^ MASK;
          pc += 1;
          break;
        case Op.equal: {
          const b = pop();
          stack[sp - 1] = stack[sp - 1] === b ? 1n : 0n;
          pc += 1;
          break;
        }
        case Op.lessSigned: {
          const b = pop();
          stack[sp - 1] = signed(stack[sp - 1]!) < signed(b) ? 1n : 0n;
          pc += 1;
          break;
        }
        case Op.lessUnsigned: {
          const b = pop();
          stack[sp - 1] = stack[sp - 1]! < b ? 1n : 0n;
          pc += 1;
          break;
        }
        case Op.ext: {
          const bits = bytes[pc + 1]!;
          if (bits < 64) stack[sp - 1] = BigInt.asIntN(bits, stack[sp - 1]!) & MASK;
          pc += 2;
          break;
        }
        case Op.zeroExt: {
          const bits = bytes[pc + 1]!;
          if (bits < 64) stack[sp - 1] = BigInt.asUintN(bits, stack[sp - 1]!);
          pc += 2;
          break;
        }
        case Op.ref8:
          ref(1);
          pc += 1;
          break;
        case Op.ref16:
          ref(2);
          pc += 1;
          break;
        case Op.ref32:
          ref(4);
          pc += 1;
          break;
        case Op.ref64:
          ref(8);
          pc += 1;
          break;
        case Op.ifGoto:
          pc = pop() !== 0n ? operand16() : pc + 3;
          break;
        case Op.goto:
          pc = operand16();
          break;
        case Op.const8:
          push(BigInt(bytes[pc + 1]!));
          pc += 2;
          break;
        case Op.const16:
          push(BigInt(operand16()));
          pc += 3;
          break;
        case Op.const32:
          push(
            BigInt(
              ((bytes[pc + 1]! << 24) >>> 0) +
                ((bytes[pc + 2]! << 16) | (bytes[pc + 3]! << 8) | bytes[pc + 4]!),
            ),
          );
          pc += 5;
          break;
        case Op.const64: {
          let value = 0n;
          for (let i = 1; i <= 8; i++) value = (value << 8n) | BigInt(bytes[pc + i]!);
          push(value);
          pc += 9;
          break;
        }
        case Op.reg:
          push(env.register(operand16()) & MASK);
          pc += 3;
          break;
        case Op.end:
          // A command may end with nothing on the stack; its value is then 0.
          return { ok: true, value: sp > 0 ? stack[sp - 1]! : 0n, output, steps };
        case Op.dup:
          push(stack[sp - 1]!);
          pc += 1;
          break;
        case Op.pop:
          sp--;
          pc += 1;
          break;
        case Op.swap: {
          const top = stack[sp - 1]!;
          stack[sp - 1] = stack[sp - 2]!;
          stack[sp - 2] = top;
          pc += 1;
          break;
        }
        case Op.pick:
          push(stack[sp - 1 - bytes[pc + 1]!]!);
          pc += 2;
          break;
        case Op.rot: {
          // a b c => c a b
          const c = stack[sp - 1]!;
          stack[sp - 1] = stack[sp - 2]!;
          stack[sp - 2] = stack[sp - 3]!;
          stack[sp - 3] = c;
          pc += 1;
          break;
        }
        case Op.printf: {
          const nargs = bytes[pc + 1]!;
          const length = 4 + ((bytes[pc + 2]! << 8) | bytes[pc + 3]!);
          sp -= 2; // function and channel: the output always goes to the debugger's console
          const args: bigint[] = [];
          for (let i = 0; i < nargs; i++) args.push(stack[sp - 1 - i]!);
          sp -= nargs;
          if (output.length < MAX_OUTPUT) {
            output += formatPieces(program.formats.get(pc)!, args, (address, max) =>
              readString(env, address, max),
            );
            // A loop of printfs must not build megabytes for one O packet.
            if (output.length >= MAX_OUTPUT) output = output.slice(0, MAX_OUTPUT) + '[cut]\n';
          }
          pc += length;
          break;
        }
        default:
          // verifyProgram admits no other byte where an instruction starts.
          throw new EvaluationError(`opcode 0x${code.toString(16)} at ${pc}`);
      }
    }
  } catch (error) {
    if (!(error instanceof EvaluationError)) throw error;
    return { ok: false, error: error.message, output, steps };
  }
}

/**
 * A NUL-terminated guest string, at most `max` bytes, read in small pieces
 * that never cross a page: what follows the NUL is never read, so a string
 * at the end of readable memory prints.
 */
function readString(env: AgentEnvironment, address: bigint, max: number): string {
  const limit = Math.min(max, MAX_STRING_BYTES);
  let text = '';
  let at = address;
  while (text.length < limit) {
    const toPage = Number(0x1000n - (at & 0xfffn));
    const chunk = env.read(at, Math.min(STRING_PIECE, toPage, limit - text.length));
    if (chunk === undefined) {
      throw new EvaluationError(`cannot read the string at 0x${address.toString(16)}`);
    }
    const nul = chunk.indexOf(0);
    text += Buffer.from(chunk.subarray(0, nul < 0 ? chunk.length : nul)).toString('latin1');
    if (nul >= 0) break;
    at = (at + BigInt(chunk.length)) & MASK;
  }
  return text;
}
