import { OPCODES } from '../../../lib/agent/opcodes';

/** One instruction for the tests' assembler: a name and its operand bytes. */
export type Instruction = [name: string, ...operands: number[]];

const CODE = new Map(OPCODES.map((o) => [o.name, o.code]));

/** Bytecode from opcode names (operand bytes as given, big-endian as the agent reads them). */
export function assemble(...instructions: Instruction[]): Uint8Array {
  const bytes: number[] = [];
  for (const [name, ...operands] of instructions) {
    const code = CODE.get(name);
    if (code === undefined) throw new Error(`no opcode ${name}`);
    bytes.push(code, ...operands);
  }
  return Uint8Array.from(bytes);
}

/** A 16-bit operand as its two bytes. */
export function u16(value: number): [number, number] {
  return [(value >> 8) & 0xff, value & 0xff];
}

/** printf's operands: nargs, the format's 16-bit length with its NUL, the format, the NUL. */
export function printfOperands(nargs: number, format: string): number[] {
  const text = [...Buffer.from(format, 'latin1'), 0];
  return [nargs, ...u16(text.length), ...text];
}
