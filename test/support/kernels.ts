import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const KERNEL_DIR = path.join(ROOT, 'test', 'fixtures', 'guest', 'bin');

export type KernelName =
  'up' | 'higher' | 'smp' | 'timer' | 'irqstress' | 'usermode' | 'xmodify' | 'elf64';

export function kernelPath(name: KernelName): string {
  return path.join(KERNEL_DIR, `${name}.elf`);
}

export function kernelImage(name: KernelName): Buffer {
  return fs.readFileSync(kernelPath(name));
}

const symbolCache = new Map<KernelName, Map<string, bigint>>();

/** The kernel's symbols, read with binutils' nm. */
export function symbols(name: KernelName): Map<string, bigint> {
  let table = symbolCache.get(name);
  if (table === undefined) {
    table = new Map();
    const out = execFileSync('nm', [kernelPath(name)], { encoding: 'utf8' });
    for (const line of out.split('\n')) {
      const match = /^([0-9a-f]+) \w (\S+)$/.exec(line);
      if (match) table.set(match[2]!, BigInt('0x' + match[1]!));
    }
    symbolCache.set(name, table);
  }
  return table;
}

export function symbol(name: KernelName, sym: string): bigint {
  const value = symbols(name).get(sym);
  if (value === undefined) throw new Error(`${name}.elf has no symbol ${sym}`);
  return value;
}

export interface Instruction {
  address: bigint;
  text: string;
}

/** One function's instructions, from binutils' objdump. */
export function disassemble(kernel: KernelName, fn: string): Instruction[] {
  const out = execFileSync(
    'objdump',
    ['-d', '--no-show-raw-insn', `--disassemble=${fn}`, kernelPath(kernel)],
    { encoding: 'utf8' },
  );
  const instructions: Instruction[] = [];
  for (const line of out.split('\n')) {
    const match = /^\s+([0-9a-f]+):\s+(\S.*)$/.exec(line);
    if (match) instructions.push({ address: BigInt('0x' + match[1]!), text: match[2]!.trim() });
  }
  return instructions;
}

/** The line each uniprocessor test kernel prints on COM1 once it is up. */
export const BOOT_LINES = [
  ['up', /vmm-gdbstub test kernel: up ok\n/],
  ['higher', /vmm-gdbstub test kernel: higher ok\n/],
  ['timer', /vmm-gdbstub test kernel: timer ok\n/],
  ['elf64', /vmm-gdbstub test kernel: elf64 ok\n/],
] as const;
