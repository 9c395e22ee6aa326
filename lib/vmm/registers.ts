/**
 * The full architectural state of one x86-64 vCPU, as every backend reports
 * it. Segment access rights use the VMX access-rights layout (type 0-3, S 4,
 * DPL 5-6, P 7, AVL 12, L 13, D/B 14, G 15, unusable 16), which bhyve's
 * `seg_desc.access` uses and KVM's `kvm_segment` fields map onto.
 */
export interface SegmentRegister {
  selector: number;
  base: bigint;
  limit: number;
  access: number;
}

/** GDTR and IDTR: a base and a limit, no selector. */
export interface TableRegister {
  base: bigint;
  limit: number;
}

/** x87 and SSE state. `st` holds eight 10-byte values, `xmm` sixteen 16-byte values. */
export interface FpuState {
  fcw: number;
  fsw: number;
  /** Full (not abridged) tag word. */
  ftw: number;
  fop: number;
  fip: bigint;
  fcs: number;
  fdp: bigint;
  fds: number;
  mxcsr: number;
  st: Buffer[];
  xmm: Buffer[];
}

export const GPR_NAMES = [
  'rax',
  'rbx',
  'rcx',
  'rdx',
  'rsi',
  'rdi',
  'rbp',
  'rsp',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
] as const;
export type GprName = (typeof GPR_NAMES)[number];

export const SEGMENT_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'ldtr', 'tr'] as const;
export type SegmentName = (typeof SEGMENT_NAMES)[number];

export const CONTROL_NAMES = [
  'rip',
  'rflags',
  'cr0',
  'cr2',
  'cr3',
  'cr4',
  'cr8',
  'efer',
  'kernelGsBase',
  'dr0',
  'dr1',
  'dr2',
  'dr3',
  'dr6',
  'dr7',
] as const;
export type ControlName = (typeof CONTROL_NAMES)[number];

/**
 * One vCPU's registers. fs_base and gs_base are `fs.base` and `gs.base`:
 * the hardware keeps one copy, so this type does too.
 */
export type RegisterFile = Record<GprName | ControlName, bigint> &
  Record<SegmentName, SegmentRegister> & {
    gdtr: TableRegister;
    idtr: TableRegister;
    fpu: FpuState;
  };

/** x87/SSE state after FNINIT and with MXCSR at its reset value: every register empty. */
export function initialFpuState(): FpuState {
  return {
    fcw: 0x37f,
    fsw: 0,
    ftw: 0xffff,
    fop: 0,
    fip: 0n,
    fcs: 0,
    fdp: 0n,
    fds: 0,
    mxcsr: 0x1f80,
    st: Array.from({ length: 8 }, () => Buffer.alloc(10)),
    xmm: Array.from({ length: 16 }, () => Buffer.alloc(16)),
  };
}
