import type { RegisterFile, SegmentName } from '../../vmm/registers';

/**
 * One register as gdb numbers it for amd64 (the order of gdb's
 * 64bit-core.xml, 64bit-sse.xml, then our system registers).
 */
export interface GdbRegister {
  name: string;
  /** Size in bytes on the wire. */
  size: number;
  read(regs: RegisterFile): bigint | Buffer;
  write(regs: RegisterFile, value: Buffer): void;
}

function readLe(value: Buffer): bigint {
  let out = 0n;
  for (let i = value.length - 1; i >= 0; i--) out = (out << 8n) | BigInt(value[i]!);
  return out;
}

type ScalarKey = {
  [K in keyof RegisterFile]: RegisterFile[K] extends bigint ? K : never;
}[keyof RegisterFile];

function scalar(name: string, key: ScalarKey, size = 8): GdbRegister {
  return {
    name,
    size,
    read: (regs) => regs[key],
    write: (regs, value) => {
      regs[key] = readLe(value);
    },
  };
}

function selector(name: SegmentName): GdbRegister {
  return {
    name,
    size: 4,
    read: (regs) => BigInt(regs[name].selector),
    write: (regs, value) => {
      regs[name].selector = Number(readLe(value) & 0xffffn);
    },
  };
}

function segmentBase(name: string, segment: 'fs' | 'gs'): GdbRegister {
  return {
    name,
    size: 8,
    read: (regs) => regs[segment].base,
    write: (regs, value) => {
      regs[segment].base = readLe(value);
    },
  };
}

type FpuNumberKey = 'fcw' | 'fsw' | 'ftw' | 'fop' | 'fcs' | 'fds' | 'mxcsr';
type FpuBigKey = 'fip' | 'fdp';

function fpuNumber(name: string, key: FpuNumberKey): GdbRegister {
  return {
    name,
    size: 4,
    read: (regs) => BigInt(regs.fpu[key]),
    write: (regs, value) => {
      regs.fpu[key] = Number(readLe(value) & 0xffffffffn);
    },
  };
}

function fpuPointer(name: string, key: FpuBigKey): GdbRegister {
  return {
    name,
    size: 4,
    read: (regs) => regs.fpu[key] & 0xffffffffn,
    write: (regs, value) => {
      regs.fpu[key] = readLe(value);
    },
  };
}

function vector(name: string, bank: 'st' | 'xmm', index: number, size: number): GdbRegister {
  return {
    name,
    size,
    read: (regs) => regs.fpu[bank][index]!,
    write: (regs, value) => {
      value.copy(regs.fpu[bank][index]!, 0, 0, size);
    },
  };
}

const GPRS = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp'] as const;

/** gdb's amd64 core and SSE registers, in 'g' packet order. */
export const CORE_REGISTERS: readonly GdbRegister[] = [
  ...GPRS.map((name) => scalar(name, name)),
  ...(['r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const).map((name) =>
    scalar(name, name),
  ),
  scalar('rip', 'rip'),
  scalar('eflags', 'rflags', 4),
  ...(['cs', 'ss', 'ds', 'es', 'fs', 'gs'] as const).map(selector),
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => vector(`st${i}`, 'st', i, 10)),
  fpuNumber('fctrl', 'fcw'),
  fpuNumber('fstat', 'fsw'),
  fpuNumber('ftag', 'ftw'),
  fpuNumber('fiseg', 'fcs'),
  fpuPointer('fioff', 'fip'),
  fpuNumber('foseg', 'fds'),
  fpuPointer('fooff', 'fdp'),
  fpuNumber('fop', 'fop'),
  ...Array.from({ length: 16 }, (_, i) => vector(`xmm${i}`, 'xmm', i, 16)),
  fpuNumber('mxcsr', 'mxcsr'),
];

/** Segment bases and system registers, after the core set. */
export const SYSTEM_REGISTERS: readonly GdbRegister[] = [
  segmentBase('fs_base', 'fs'),
  segmentBase('gs_base', 'gs'),
  scalar('k_gs_base', 'kernelGsBase'),
  scalar('cr0', 'cr0'),
  scalar('cr2', 'cr2'),
  scalar('cr3', 'cr3'),
  scalar('cr4', 'cr4'),
  scalar('cr8', 'cr8'),
  scalar('efer', 'efer'),
];

/** Writes one register's value into out at offset, little-endian, as hex. */
export function encodeRegister(reg: GdbRegister, regs: RegisterFile): string {
  const value = reg.read(regs);
  if (Buffer.isBuffer(value)) return value.subarray(0, reg.size).toString('hex');
  const bytes = Buffer.alloc(reg.size);
  let v = value;
  for (let i = 0; i < reg.size; i++) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return bytes.toString('hex');
}
