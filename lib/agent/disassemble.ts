import { OPCODE_BY_CODE, Op } from './opcodes';

/**
 * A verified program as one line of gdb's opcode names (`reg 5, const8 3,
 * equal, end`), `registerName` naming `reg` operands; cut after `max` characters.
 */
export function disassemble(
  bytes: Uint8Array,
  registerName: (n: number) => string,
  max = 160,
): string {
  const parts: string[] = [];
  let length = 0;
  for (let pc = 0; pc < bytes.length && length < max;) {
    const opcode = OPCODE_BY_CODE[bytes[pc]!];
    if (opcode === undefined) break;
    let text = opcode.name;
    let size = 1 + opcode.operands;
    if (bytes[pc] === Op.printf) {
      size = 4 + ((bytes[pc + 2]! << 8) | bytes[pc + 3]!);
      const format = Buffer.from(bytes.subarray(pc + 4, pc + size - 1)).toString('latin1');
      text += ` ${bytes[pc + 1]} "${format}"`;
    } else if (bytes[pc] === Op.reg) {
      text += ` ${registerName((bytes[pc + 1]! << 8) | bytes[pc + 2]!)}`;
    } else if (opcode.operands > 0) {
      let value = 0n;
      for (let i = 1; i <= opcode.operands; i++) value = (value << 8n) | BigInt(bytes[pc + i]!);
      text +=
        bytes[pc] === Op.goto || bytes[pc] === Op.ifGoto ? ` ${value}` : ` 0x${value.toString(16)}`;
    }
    parts.push(text);
    length += text.length + 2;
    pc += size;
  }
  const line = parts.join(', ');
  return line.length > max ? line.slice(0, max) + '...' : line;
}
