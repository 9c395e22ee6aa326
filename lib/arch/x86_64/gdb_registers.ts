import type { RegisterFile, SegmentName } from '../../vmm/registers';

/**
 * One register as gdb numbers it for amd64 (the order of gdb's
 * 64bit-core.xml, 64bit-sse.xml, then segment bases and our system registers).
 */
export interface GdbRegister {
  name: string;
  /** Size in bytes on the wire. */
  size: number;
  /** The target description's type: a gdb built-in or one the feature defines. */
  type: string;
  /** The register group `info registers` lists it under, when not the type's default. */
  group?: string;
  read(regs: RegisterFile): bigint | Buffer;
  /** value holds exactly `size` bytes, little-endian. */
  write(regs: RegisterFile, value: Buffer): void;
}

/** A target description feature: a named, ordered run of registers. */
export interface GdbFeature {
  name: string;
  registers: readonly GdbRegister[];
}

function readLe(value: Buffer): bigint {
  let out = 0n;
  for (let i = value.length - 1; i >= 0; i--) out = (out << 8n) | BigInt(value[i]!);
  return out;
}

type ScalarKey = {
  [K in keyof RegisterFile]: RegisterFile[K] extends bigint ? K : never;
}[keyof RegisterFile];

function scalar(name: string, key: ScalarKey, type = 'int64', size = 8): GdbRegister {
  return {
    name,
    size,
    type,
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
    type: 'int32',
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
    type: 'int',
    read: (regs) => regs[segment].base,
    write: (regs, value) => {
      regs[segment].base = readLe(value);
    },
  };
}

type FpuNumberKey = 'fcw' | 'fsw' | 'ftw' | 'fop' | 'fcs' | 'fds' | 'mxcsr';
type FpuBigKey = 'fip' | 'fdp';

function fpuNumber(name: string, key: FpuNumberKey, type = 'int', group = 'float'): GdbRegister {
  return {
    name,
    size: 4,
    type,
    group,
    read: (regs) => BigInt(regs.fpu[key]),
    write: (regs, value) => {
      regs.fpu[key] = Number(readLe(value) & 0xffffffffn);
    },
  };
}

/** fioff/fooff: gdb shows the low 32 bits; a write keeps the high half of the 64-bit pointer. */
function fpuPointer(name: string, key: FpuBigKey): GdbRegister {
  return {
    name,
    size: 4,
    type: 'int',
    group: 'float',
    read: (regs) => regs.fpu[key] & 0xffffffffn,
    write: (regs, value) => {
      regs.fpu[key] = (regs.fpu[key] & ~0xffffffffn) | readLe(value);
    },
  };
}

function vector(
  name: string,
  bank: 'st' | 'xmm',
  index: number,
  size: number,
  type: string,
): GdbRegister {
  return {
    name,
    size,
    type,
    read: (regs) => regs.fpu[bank][index]!,
    write: (regs, value) => {
      value.copy(regs.fpu[bank][index]!, 0, 0, size);
    },
  };
}

const GPRS = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi'] as const;
const NUMBERED_GPRS = ['r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;

/** org.gnu.gdb.i386.core: gdb's amd64 core set, regnums 0-39. */
export const CORE_FEATURE: GdbFeature = {
  name: 'org.gnu.gdb.i386.core',
  registers: [
    ...GPRS.map((name) => scalar(name, name)),
    scalar('rbp', 'rbp', 'data_ptr'),
    scalar('rsp', 'rsp', 'data_ptr'),
    ...NUMBERED_GPRS.map((name) => scalar(name, name)),
    scalar('rip', 'rip', 'code_ptr'),
    scalar('eflags', 'rflags', 'i386_eflags', 4),
    ...(['cs', 'ss', 'ds', 'es', 'fs', 'gs'] as const).map(selector),
    ...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => vector(`st${i}`, 'st', i, 10, 'i387_ext')),
    fpuNumber('fctrl', 'fcw'),
    fpuNumber('fstat', 'fsw'),
    fpuNumber('ftag', 'ftw'),
    fpuNumber('fiseg', 'fcs'),
    fpuPointer('fioff', 'fip'),
    fpuNumber('foseg', 'fds'),
    fpuPointer('fooff', 'fdp'),
    fpuNumber('fop', 'fop'),
  ],
};

/** org.gnu.gdb.i386.sse: xmm0-15 and mxcsr, regnums 40-56. */
export const SSE_FEATURE: GdbFeature = {
  name: 'org.gnu.gdb.i386.sse',
  registers: [
    ...Array.from({ length: 16 }, (_, i) => vector(`xmm${i}`, 'xmm', i, 16, 'vec128')),
    fpuNumber('mxcsr', 'mxcsr', 'i386_mxcsr', 'vector'),
  ],
};

/** org.gnu.gdb.i386.segments: the fs and gs bases, named as gdb names them. */
export const SEGMENTS_FEATURE: GdbFeature = {
  name: 'org.gnu.gdb.i386.segments',
  registers: [segmentBase('fs_base', 'fs'), segmentBase('gs_base', 'gs')],
};

/** Our own feature: what a kernel debugger needs that gdb has no feature for. */
export const SYSTEM_FEATURE: GdbFeature = {
  name: 'org.vmm-gdbstub.x86.sys',
  registers: [
    scalar('k_gs_base', 'kernelGsBase'),
    scalar('cr0', 'cr0', 'x86_cr0'),
    scalar('cr2', 'cr2', 'data_ptr'),
    scalar('cr3', 'cr3'),
    scalar('cr4', 'cr4', 'x86_cr4'),
    scalar('cr8', 'cr8'),
    scalar('efer', 'efer', 'x86_efer'),
  ].map((reg) => ({ ...reg, group: 'system' })),
};

/** The target description's features, in regnum order. */
export const FEATURES: readonly GdbFeature[] = [
  CORE_FEATURE,
  SSE_FEATURE,
  SEGMENTS_FEATURE,
  SYSTEM_FEATURE,
];

/** gdb's amd64 core and SSE registers, in 'g' packet order. */
export const CORE_REGISTERS: readonly GdbRegister[] = [
  ...CORE_FEATURE.registers,
  ...SSE_FEATURE.registers,
];

/** Segment bases and system registers, after the core set. */
export const SYSTEM_REGISTERS: readonly GdbRegister[] = [
  ...SEGMENTS_FEATURE.registers,
  ...SYSTEM_FEATURE.registers,
];

/** Every register: index = regnum in the target description = order in 'g'. */
export const GDB_REGISTERS: readonly GdbRegister[] = [...CORE_REGISTERS, ...SYSTEM_REGISTERS];

/** Bytes of a 'g' reply before hex encoding. */
export const REGISTER_BYTES = GDB_REGISTERS.reduce((sum, reg) => sum + reg.size, 0);

/** Copies one register's value into out at offset, little-endian; returns the next offset. */
export function writeRegisterBytes(
  reg: GdbRegister,
  regs: RegisterFile,
  out: Buffer,
  offset: number,
): number {
  const value = reg.read(regs);
  if (Buffer.isBuffer(value)) {
    out.fill(0, offset, offset + reg.size);
    value.copy(out, offset, 0, Math.min(reg.size, value.length));
  } else {
    let v = value;
    for (let i = 0; i < reg.size; i++) {
      out[offset + i] = Number(v & 0xffn);
      v >>= 8n;
    }
  }
  return offset + reg.size;
}

/** One register's value, little-endian, as hex. */
export function encodeRegister(reg: GdbRegister, regs: RegisterFile): string {
  const bytes = Buffer.alloc(reg.size);
  writeRegisterBytes(reg, regs, bytes, 0);
  return bytes.toString('hex');
}

/** Every register in 'g' order, as raw bytes. */
export function encodeAllRegisters(regs: RegisterFile): Buffer {
  const out = Buffer.alloc(REGISTER_BYTES);
  let offset = 0;
  for (const reg of GDB_REGISTERS) offset = writeRegisterBytes(reg, regs, out, offset);
  return out;
}

/** Writes every register from raw bytes in 'g' order (exactly REGISTER_BYTES long). */
export function decodeAllRegisters(regs: RegisterFile, bytes: Buffer): void {
  let offset = 0;
  for (const reg of GDB_REGISTERS) {
    reg.write(regs, bytes.subarray(offset, offset + reg.size));
    offset += reg.size;
  }
}
