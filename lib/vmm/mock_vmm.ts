import { EventEmitter } from 'node:events';
import { initialFpuState, type RegisterFile, type SegmentRegister } from './registers';
import {
  VmmError,
  type BackendName,
  type DebugSlot,
  type DebugSlotKind,
  type DebugSlots,
  type MemoryRegion,
  type StopEvent,
  type ResumeOptions,
  type StartMode,
  type VcpuState,
  type Vmm,
  type VmmEventMap,
} from './vmm';

export interface MockVmmOptions {
  memoryBytes?: number;
  vcpus?: number;
  /** Guest-virtual = guest-physical + this offset (a one-region page map). */
  virtualOffset?: bigint;
  /** Debug slots (hwBreakpoints / watchpoints); none when absent. */
  debugSlots?: { count?: number; kinds?: DebugSlotKind[] };
}

function segment(selector: number, access: number): SegmentRegister {
  return { selector, base: 0n, limit: 0xffffffff, access };
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
    fpu: initialFpuState(),
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
  // declare: no property at all (`'hwBreakpoints' in vmm`) unless the backend has the slots.
  declare readonly hwBreakpoints?: DebugSlots;
  declare readonly watchpoints?: DebugSlots;
  /** Each vCPU's debug slots as last set. */
  private readonly debugSlots: (DebugSlot | undefined)[][];

  constructor(options: MockVmmOptions = {}) {
    super();
    this.ram = Buffer.alloc(options.memoryBytes ?? 1 << 20);
    const vcpus = options.vcpus ?? 1;
    this.regs = Array.from({ length: vcpus }, () => blankRegisters());
    this.states = Array.from({ length: vcpus }, () => 'parked' as VcpuState);
    this.virtualOffset = options.virtualOffset ?? 0n;
    this.debugSlots = Array.from({ length: vcpus }, () => []);
    if (options.debugSlots !== undefined) {
      const count = options.debugSlots.count ?? 4;
      const kinds = options.debugSlots.kinds ?? ['exec', 'write', 'read', 'access'];
      const slots: DebugSlots = {
        count,
        kinds,
        set: (vcpu, list) => {
          this.vcpu(vcpu);
          if (list.length > count) throw new VmmError('EINVAL', `more than ${count} debug slots`);
          for (const slot of list) {
            if (slot !== undefined && !kinds.includes(slot.kind)) {
              throw new VmmError('EINVAL', `no ${slot.kind} debug slots`);
            }
          }
          this.debugSlots[vcpu] = list.map((slot) =>
            slot === undefined ? undefined : { ...slot },
          );
        },
      };
      if (kinds.includes('exec')) this.hwBreakpoints = slots;
      if (kinds.some((kind) => kind !== 'exec')) this.watchpoints = slots;
    }
  }

  /** A vCPU's debug slots as last set (for tests). */
  slotsOf(vcpu: number): (DebugSlot | undefined)[] {
    return this.debugSlots[this.vcpu(vcpu)]!.map((slot) => (slot ? { ...slot } : undefined));
  }

  /**
   * Simulates a data access that hits debug slot `slot` of a running vCPU:
   * the instruction completes (rip moves on by one) and it parks with
   * 'watchpoint'. False when the vCPU is not running or the slot is not a data slot.
   */
  triggerWatchpoint(vcpu: number, slot: number): boolean {
    const entry = this.debugSlots[this.vcpu(vcpu)]![slot];
    if (this.states[vcpu] !== 'running' || entry === undefined || entry.kind === 'exec') {
      return false;
    }
    this.regs[vcpu]!.rip += 1n;
    this.park(vcpu, 'watchpoint', { slot, address: entry.address, access: entry.kind });
    return true;
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

  readPhysicalInto(gpa: number, length: number, target: Buffer, offset: number): void {
    this.check(gpa, length);
    if (offset < 0 || offset + length > target.length) {
      throw new RangeError('"length" runs past the end of "target"');
    }
    this.ram.copy(target, offset, gpa, gpa + length);
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

  start(mode: StartMode = 'held'): void {
    if (mode === 'running') this.resume(0);
  }

  resume(vcpu: number, options: ResumeOptions = {}): void {
    if (this.states[this.vcpu(vcpu)] !== 'parked') {
      throw new VmmError('EBUSY', `vCPU ${vcpu} is ${this.states[vcpu]}, not parked`);
    }
    this.states[vcpu] = 'running';
    const regs = this.regs[vcpu]!;
    if (options.step) {
      regs.rip += 1n;
      const range = options.range;
      // Range stepping: on while rip stays in the range, stopping at an int3 or execute slot there.
      for (let n = 0; range !== undefined && regs.rip >= range.start && regs.rip < range.end; n++) {
        const slot = this.debugSlots[vcpu]!.findIndex(
          (s) => s?.kind === 'exec' && s.address === regs.rip,
        );
        if (slot >= 0) {
          this.park(vcpu, 'debug-register', { slot });
          return;
        }
        const gpa = this.gla2gpa(vcpu, regs.rip);
        if (this.breakpointExits && gpa !== undefined && this.ram[Number(gpa)] === 0xcc) {
          this.park(vcpu, 'breakpoint');
          return;
        }
        if (n >= RUN_WINDOW) return; // a long range "spins" until paused, as a continue does
        regs.rip += 1n;
      }
      this.park(vcpu, 'step');
      return;
    }
    // The first execute slot within the window (one at rip hits at once, as on x86 without RF).
    let slotHit: { slot: number; distance: number } | undefined;
    this.debugSlots[vcpu]!.forEach((slot, index) => {
      if (slot?.kind !== 'exec') return;
      const distance = slot.address - regs.rip;
      if (distance < 0n || distance >= BigInt(RUN_WINDOW)) return;
      if (slotHit === undefined || Number(distance) < slotHit.distance) {
        slotHit = { slot: index, distance: Number(distance) };
      }
    });
    let int3 = -1;
    const start = Number(this.gla2gpa(vcpu, regs.rip) ?? -1n);
    if (this.breakpointExits && start >= 0) {
      const window = this.ram.subarray(start, Math.min(this.ram.length, start + RUN_WINDOW));
      int3 = window.indexOf(0xcc);
    }
    if (slotHit !== undefined && (int3 < 0 || slotHit.distance <= int3)) {
      regs.rip += BigInt(slotHit.distance);
      this.park(vcpu, 'debug-register', { slot: slotHit.slot });
    } else if (int3 >= 0) {
      regs.rip += BigInt(int3);
      this.park(vcpu, 'breakpoint');
    }
  }

  pause(vcpu: number): boolean {
    if (this.states[this.vcpu(vcpu)] !== 'running') return false;
    this.park(vcpu, 'paused');
    return true;
  }

  pauseAll(): void {
    // Those that are running park at once and report now, as the native
    // vCPUs do when they park within the wait.
    for (let vcpu = 0; vcpu < this.states.length; vcpu++) {
      if (this.states[vcpu] !== 'running') continue;
      this.states[vcpu] = 'parked';
      this.emit('stop', { vcpu, reason: 'paused', rip: this.regs[vcpu]!.rip });
    }
  }

  /** The mock's stops are always reported through the event loop. */
  waitForStop(): void {}

  private park(
    vcpu: number,
    reason: 'paused' | 'step' | 'breakpoint' | 'debug-register' | 'watchpoint',
    extra: Pick<StopEvent, 'slot' | 'address' | 'access'> = {},
  ): void {
    // Parked at once, reported later: the native threads behave the same way.
    this.states[vcpu] = 'parked';
    const rip = this.regs[vcpu]!.rip;
    setImmediate(() => {
      if (!this.destroyed) this.emit('stop', { vcpu, reason, rip, ...extra });
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
