import { EventEmitter } from 'node:events';
import type { FpuState, RegisterFile, SegmentRegister } from './registers';
import {
  VmmError,
  type BackendName,
  type MemoryRegion,
  type ResumeOptions,
  type VcpuState,
  type Vmm,
  type VmmEventMap,
} from './vmm';

export interface MockVmmOptions {
  memoryBytes?: number;
  vcpus?: number;
  /** Guest-virtual = guest-physical + this offset (a one-region page map). */
  virtualOffset?: bigint;
}

function segment(selector: number, access: number): SegmentRegister {
  return { selector, base: 0n, limit: 0xffffffff, access };
}

function emptyFpu(): FpuState {
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

/** A 64-bit flat register file with every register zero but the mode bits. */
export function blankRegisters(): RegisterFile {
  const zero = 0n;
  return {
    rax: zero,
    rbx: zero,
    rcx: zero,
    rdx: zero,
    rsi: zero,
    rdi: zero,
    rbp: zero,
    rsp: zero,
    r8: zero,
    r9: zero,
    r10: zero,
    r11: zero,
    r12: zero,
    r13: zero,
    r14: zero,
    r15: zero,
    rip: zero,
    rflags: 2n,
    cr0: 0x80000011n,
    cr2: zero,
    cr3: zero,
    cr4: 0x20n,
    cr8: zero,
    efer: 0x500n,
    kernelGsBase: zero,
    dr0: zero,
    dr1: zero,
    dr2: zero,
    dr3: zero,
    dr6: 0xffff0ff0n,
    dr7: 0x400n,
    es: segment(0x10, 0xc093),
    cs: segment(0x08, 0xa09b),
    ss: segment(0x10, 0xc093),
    ds: segment(0x10, 0xc093),
    fs: segment(0x10, 0xc093),
    gs: segment(0x10, 0xc093),
    ldtr: { selector: 0, base: 0n, limit: 0, access: 0x10000 },
    tr: { selector: 0, base: 0n, limit: 0x67, access: 0x8b },
    gdtr: { base: 0n, limit: 0 },
    idtr: { base: 0n, limit: 0 },
    fpu: emptyFpu(),
  };
}

function cloneRegisters(regs: RegisterFile): RegisterFile {
  return {
    ...regs,
    es: { ...regs.es },
    cs: { ...regs.cs },
    ss: { ...regs.ss },
    ds: { ...regs.ds },
    fs: { ...regs.fs },
    gs: { ...regs.gs },
    ldtr: { ...regs.ldtr },
    tr: { ...regs.tr },
    gdtr: { ...regs.gdtr },
    idtr: { ...regs.idtr },
    fpu: {
      ...regs.fpu,
      st: regs.fpu.st.map((b) => Buffer.from(b)),
      xmm: regs.fpu.xmm.map((b) => Buffer.from(b)),
    },
  };
}

/** How far a running mock vCPU looks ahead for an int3 before it "spins". */
const RUN_WINDOW = 256;

/**
 * A Vmm test double that meets the same contract as the native backends.
 * Its guest is a straight line of one-byte instructions: a step moves rip by
 * one; a continue runs until the first 0xCC within RUN_WINDOW bytes (a
 * breakpoint stop, when breakpoint exits are on) or spins until paused.
 * Events arrive asynchronously, as from the native threads.
 */
export class MockVmm extends EventEmitter<VmmEventMap> implements Vmm {
  readonly backend: BackendName = 'emu';
  readonly ram: Buffer;
  private readonly regs: RegisterFile[];
  private readonly states: VcpuState[];
  private readonly virtualOffset: bigint;
  private breakpointExits = false;
  private destroyed = false;

  constructor(options: MockVmmOptions = {}) {
    super();
    this.ram = Buffer.alloc(options.memoryBytes ?? 1 << 20);
    const vcpus = options.vcpus ?? 1;
    this.regs = Array.from({ length: vcpus }, () => blankRegisters());
    this.states = Array.from({ length: vcpus }, () => 'parked' as VcpuState);
    this.virtualOffset = options.virtualOffset ?? 0n;
  }

  get vcpuCount(): number {
    return this.regs.length;
  }

  memoryRegions(): MemoryRegion[] {
    return [{ gpa: 0, size: this.ram.length }];
  }

  private check(gpa: number, length: number): void {
    if (!Number.isSafeInteger(gpa) || gpa < 0 || length < 0 || gpa + length > this.ram.length) {
      throw new VmmError(
        'EFAULT',
        `guest-physical range 0x${gpa.toString(16)}+0x${length.toString(16)} is outside guest RAM`,
      );
    }
  }

  private vcpu(vcpu: number): number {
    if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= this.regs.length) {
      throw new VmmError('EINVAL', `no vCPU ${vcpu}`);
    }
    return vcpu;
  }

  readPhysical(gpa: number, length: number): Buffer {
    this.check(gpa, length);
    return Buffer.from(this.ram.subarray(gpa, gpa + length));
  }

  writePhysical(gpa: number, data: Buffer): void {
    this.check(gpa, data.length);
    data.copy(this.ram, gpa);
  }

  getRegisters(vcpu: number): RegisterFile {
    if (this.states[this.vcpu(vcpu)] === 'running')
      throw new VmmError('EBUSY', `vCPU ${vcpu} is running`);
    return cloneRegisters(this.regs[vcpu]!);
  }

  setRegisters(vcpu: number, registers: RegisterFile): void {
    if (this.states[this.vcpu(vcpu)] === 'running')
      throw new VmmError('EBUSY', `vCPU ${vcpu} is running`);
    this.regs[vcpu] = cloneRegisters(registers);
  }

  gla2gpa(vcpu: number, gla: bigint): bigint | undefined {
    this.vcpu(vcpu);
    const gpa = gla - this.virtualOffset;
    return gpa >= 0n && gpa < BigInt(this.ram.length) ? gpa : undefined;
  }

  setBreakpointExits(on: boolean): void {
    this.breakpointExits = on;
  }

  /** Whether int3 exits are on now (for tests). */
  get breakpointExitsOn(): boolean {
    return this.breakpointExits;
  }

  /** Every exception injected, in order (the mock's guest has no IDT). */
  readonly injected: { vcpu: number; vector: number; errorCode?: number; rip: bigint }[] = [];

  injectException(vcpu: number, vector: number, errorCode?: number): void {
    if (this.states[this.vcpu(vcpu)] === 'running')
      throw new VmmError('EBUSY', `vCPU ${vcpu} is running`);
    if (!Number.isInteger(vector) || vector < 0 || vector > 31)
      throw new VmmError('EINVAL', `${vector} is not an exception vector`);
    const entry: (typeof this.injected)[number] = { vcpu, vector, rip: this.regs[vcpu]!.rip };
    if (errorCode !== undefined) entry.errorCode = errorCode;
    this.injected.push(entry);
  }

  start(): void {}

  resume(vcpu: number, options: ResumeOptions = {}): void {
    if (this.states[this.vcpu(vcpu)] !== 'parked') {
      throw new VmmError('EBUSY', `vCPU ${vcpu} is ${this.states[vcpu]}, not parked`);
    }
    this.states[vcpu] = 'running';
    const regs = this.regs[vcpu]!;
    if (options.step) {
      regs.rip += 1n;
      this.park(vcpu, 'step');
      return;
    }
    if (!this.breakpointExits) return;
    const start = Number(this.gla2gpa(vcpu, regs.rip) ?? -1n);
    if (start < 0) return;
    const window = this.ram.subarray(start, Math.min(this.ram.length, start + RUN_WINDOW));
    const hit = window.indexOf(0xcc);
    if (hit >= 0) {
      regs.rip += BigInt(hit);
      this.park(vcpu, 'breakpoint');
    }
  }

  pause(vcpu: number): boolean {
    if (this.states[this.vcpu(vcpu)] !== 'running') return false;
    this.park(vcpu, 'paused');
    return true;
  }

  private park(vcpu: number, reason: 'paused' | 'step' | 'breakpoint'): void {
    // Parked at once, reported later: the native threads behave the same way.
    this.states[vcpu] = 'parked';
    const rip = this.regs[vcpu]!.rip;
    setImmediate(() => {
      if (!this.destroyed) this.emit('stop', { vcpu, reason, rip });
    });
  }

  vcpuState(vcpu: number): VcpuState {
    return this.states[this.vcpu(vcpu)]!;
  }

  keepAlive(): void {}

  destroy(): void {
    this.destroyed = true;
    this.states.fill('exited');
  }
}
