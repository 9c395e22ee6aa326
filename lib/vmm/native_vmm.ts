import { EventEmitter } from 'node:events';
import {
  loadAddon,
  type AddonName,
  type NativeAddon,
  type NativeEvent,
  type NativeVmm,
} from './addon';
import {
  CONTROL_NAMES,
  GPR_NAMES,
  SEGMENT_NAMES,
  type RegisterFile,
  type SegmentRegister,
  type TableRegister,
} from './registers';
import {
  VmmError,
  type BackendName,
  type DebugSlot,
  type DebugSlotKind,
  type DebugSlots,
  type MachineEnd,
  type MemoryRegion,
  type ResumeOptions,
  type StartMode,
  type StopEvent,
  type StopReason,
  type VcpuState,
  type Vmm,
  type VmmEventMap,
} from './vmm';

export interface VmConfig {
  /** Guest RAM in bytes. */
  memoryBytes: number;
  vcpus: number;
  name?: string;
  /**
   * 'idle': the vCPU threads run at idle priority (Linux SCHED_IDLE), so
   * the stub's own thread, and anything else on the host, preempts them at
   * once: Ctrl-C and stops of many busy vCPUs are answered promptly even
   * when vCPUs outnumber host CPUs, but the guest only gets the CPU time
   * nothing else wants. Default 'normal'.
   */
  vcpuPriority?: VcpuPriority;
}

export type VcpuPriority = 'normal' | 'idle';

/** The addon that carries each backend. */
export const ADDON_OF_BACKEND: Record<BackendName, AddonName> = {
  emu: 'emu',
  kvm: 'core',
  bhyve: 'core',
};

/**
 * The addon's optional fast register read (newer addons): the register file
 * as one Buffer in REGISTER_LAYOUT, instead of an object graph built in C++.
 */
type WithRawRegisters = NativeVmm & { getRegistersRaw?(vcpu: number): Buffer };

/**
 * Byte offsets of native/vmm/register_convert.cc's registersToBuffer
 * (little-endian): change both together.
 */
export const REGISTER_LAYOUT = {
  bytes: 848,
  gprs: 0,
  /** CONTROL_NAMES, in order. */
  controls: 128,
  /** Eight of 24 bytes: base u64, limit u32, access u32, selector u32. */
  segments: 248,
  gdtr: 440,
  idtr: 456,
  fpu: 472,
  st: 512,
  xmm: 592,
} as const;

/**
 * A RegisterFile over `raw` (REGISTER_LAYOUT): the x87/SSE registers are
 * views of it, so the caller owns `raw` from then on.
 */
export function decodeRegisterBuffer(raw: Buffer): RegisterFile {
  const L = REGISTER_LAYOUT;
  const regs: Record<string, unknown> = {};
  for (let i = 0; i < GPR_NAMES.length; i++) {
    regs[GPR_NAMES[i]!] = raw.readBigUInt64LE(L.gprs + 8 * i);
  }
  for (let i = 0; i < CONTROL_NAMES.length; i++) {
    regs[CONTROL_NAMES[i]!] = raw.readBigUInt64LE(L.controls + 8 * i);
  }
  for (let i = 0; i < SEGMENT_NAMES.length; i++) {
    const at = L.segments + 24 * i;
    const segment: SegmentRegister = {
      selector: raw.readUInt32LE(at + 16),
      base: raw.readBigUInt64LE(at),
      limit: raw.readUInt32LE(at + 8),
      access: raw.readUInt32LE(at + 12),
    };
    regs[SEGMENT_NAMES[i]!] = segment;
  }
  const table = (at: number): TableRegister => ({
    base: raw.readBigUInt64LE(at),
    limit: raw.readUInt32LE(at + 8),
  });
  regs.gdtr = table(L.gdtr);
  regs.idtr = table(L.idtr);
  // The x87/SSE state (24 buffer views) is decoded when first read: most
  // reads at a stop (the stop reply's registers, a page walk) never touch it.
  let fpu: RegisterFile['fpu'] | undefined;
  Object.defineProperty(regs, 'fpu', {
    enumerable: true,
    configurable: true,
    get: () => (fpu ??= decodeFpu(raw)),
    set: (value: RegisterFile['fpu']) => {
      fpu = value;
    },
  });
  return regs as RegisterFile;
}

function decodeFpu(raw: Buffer): RegisterFile['fpu'] {
  const L = REGISTER_LAYOUT;
  const f = L.fpu;
  return {
    fcw: raw.readUInt16LE(f),
    fsw: raw.readUInt16LE(f + 2),
    ftw: raw.readUInt16LE(f + 4),
    fop: raw.readUInt16LE(f + 6),
    fcs: raw.readUInt16LE(f + 8),
    fds: raw.readUInt16LE(f + 10),
    fip: raw.readBigUInt64LE(f + 16),
    fdp: raw.readBigUInt64LE(f + 24),
    mxcsr: raw.readUInt32LE(f + 32),
    st: Array.from({ length: 8 }, (_, i) => raw.subarray(L.st + 10 * i, L.st + 10 * i + 10)),
    xmm: Array.from({ length: 16 }, (_, i) => raw.subarray(L.xmm + 16 * i, L.xmm + 16 * i + 16)),
  };
}

/** Runs a native call, turning its errno-coded errors into VmmError. */
function guard<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    rethrow(error);
  }
}

function rethrow(error: unknown): never {
  // Not instanceof Error: the addon's errors may come from another realm (jest's vm contexts).
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string') throw new VmmError(code, String(message));
  throw error;
}

/** A Vmm over one of the native addons. */
export class NativeBackedVmm extends EventEmitter<VmmEventMap> implements Vmm {
  private readonly native: NativeVmm;
  // declare: no property at all (`'hwBreakpoints' in vmm`) unless the backend has the slots.
  declare readonly hwBreakpoints?: DebugSlots;
  declare readonly watchpoints?: DebugSlots;
  /**
   * Each parked vCPU's registers as last read (REGISTER_LAYOUT), so that the
   * g, p and breakpoint checks of one stop cost one native read. A parked
   * vCPU changes only through this object: the entry goes on resume,
   * setRegisters, injectException, debug-slot changes and start-up events.
   */
  private readonly registerCache = new Map<number, Buffer>();
  private readonly addon: NativeAddon;
  private destroyed = false;
  /** Guest RAM is laid out once, when the VM is created. */
  private regions: MemoryRegion[] | undefined;

  constructor(
    readonly backend: BackendName,
    config: VmConfig,
  ) {
    super();
    const addon = loadAddon(ADDON_OF_BACKEND[backend]);
    if (addon instanceof Error) {
      throw new VmmError('ENOENT', `the ${backend} backend's addon did not load: ${addon.message}`);
    }
    this.addon = addon;
    const nativeConfig = {
      name: config.name ?? 'vmm-gdbstub',
      memoryBytes: config.memoryBytes,
      vcpus: config.vcpus,
      vcpuPriority: config.vcpuPriority ?? 'normal',
    };
    this.native = guard(
      () => new addon.Vmm(backend, nativeConfig, (event) => this.dispatch(event)),
    );
    const slots = this.debugSlots();
    if (slots?.kinds.includes('exec')) this.hwBreakpoints = slots;
    if (slots?.kinds.some((kind) => kind !== 'exec')) this.watchpoints = slots;
  }

  /** The backend's debug slots, if it has any (an older addon has no such call). */
  private debugSlots(): DebugSlots | undefined {
    if (typeof this.native.debugCapabilities !== 'function') return undefined;
    const { slots, kinds } = this.native.debugCapabilities();
    if (slots === 0) return undefined;
    const native = this.native;
    return {
      count: slots,
      kinds: kinds as DebugSlotKind[],
      set: (vcpu: number, list: readonly (DebugSlot | undefined)[]): void => {
        this.registerCache.delete(vcpu); // dr0-dr3, dr7
        guard(() =>
          native.setDebugSlots(
            vcpu,
            list.map((slot) => slot ?? null),
          ),
        );
      },
    };
  }

  private dispatch(event: NativeEvent): void {
    switch (event.type) {
      case 'stop': {
        this.registerCache.delete(event.vcpu);
        const stop: StopEvent = {
          vcpu: event.vcpu,
          reason: event.reason as StopReason,
          rip: event.rip,
        };
        if (event.message !== undefined) stop.message = event.message;
        if (event.end !== undefined) stop.end = event.end as MachineEnd;
        if (event.slot !== undefined) stop.slot = event.slot;
        if (event.address !== undefined) stop.address = event.address;
        if (event.access !== undefined) stop.access = event.access as StopEvent['access'];
        this.emit('stop', stop);
        break;
      }
      case 'started':
        this.registerCache.delete(event.vcpu);
        this.emit('started', event.vcpu);
        break;
      case 'console':
        this.emit('console', event.data);
        break;
      case 'log':
        this.emit('log', event.message);
        break;
    }
  }

  get vcpuCount(): number {
    return this.native.vcpuCount;
  }

  memoryRegions(): MemoryRegion[] {
    this.regions ??= this.native.memoryRegions();
    return this.regions.map((r) => ({ ...r }));
  }

  readPhysical(gpa: number, length: number): Buffer {
    return guard(() => this.native.readMemory(gpa, length));
  }

  readPhysicalInto(gpa: number, length: number, target: Buffer, offset: number): void {
    guard(() => this.native.readMemoryInto(gpa, length, target, offset));
  }

  writePhysical(gpa: number, data: Buffer): void {
    guard(() => this.native.writeMemory(gpa, data));
  }

  getRegisters(vcpu: number): RegisterFile {
    const native = this.native as WithRawRegisters;
    if (typeof native.getRegistersRaw !== 'function') {
      return guard(() => this.native.getRegisters(vcpu));
    }
    let raw = this.registerCache.get(vcpu);
    if (raw === undefined) {
      raw = guard(() => native.getRegistersRaw!(vcpu));
      // Only a parked vCPU stays as read: one waiting for SIPI may start by itself.
      if (this.vcpuState(vcpu) === 'parked') this.registerCache.set(vcpu, raw);
    }
    // The caller owns what it gets (G and P edit it): a copy of the cached bytes.
    return decodeRegisterBuffer(Buffer.from(raw));
  }

  setRegisters(vcpu: number, registers: RegisterFile): void {
    this.registerCache.delete(vcpu);
    guard(() => this.native.setRegisters(vcpu, registers));
  }

  gla2gpa(vcpu: number, gla: bigint, access = 1): bigint | undefined {
    return guard(() => this.native.gla2gpa(vcpu, gla, access) ?? undefined);
  }

  serialInput(data: Buffer): void {
    if (!Buffer.isBuffer(data)) throw new TypeError('"data" is not a Buffer');
    this.native.serialInput(data);
  }

  setBreakpointExits(on: boolean): void {
    this.native.setBreakpointExits(on);
  }

  injectException(vcpu: number, vector: number, errorCode?: number): void {
    this.registerCache.delete(vcpu);
    guard(() =>
      errorCode === undefined
        ? this.native.injectException(vcpu, vector)
        : this.native.injectException(vcpu, vector, errorCode),
    );
  }

  start(mode: StartMode = 'held'): void {
    this.registerCache.clear();
    guard(() => this.native.start());
    if (mode === 'running') this.resume(0);
  }

  resume(vcpu: number, options: ResumeOptions = {}): void {
    const native: Parameters<NativeVmm['resume']>[1] = {
      step: options.step ?? false,
      maskInterrupts: options.maskInterrupts ?? false,
    };
    if (options.startHere === true) native.startHere = true;
    if (options.range !== undefined) {
      native.rangeStart = options.range.start;
      native.rangeEnd = options.range.end;
    }
    this.registerCache.delete(vcpu);
    // true: the addon ran the vCPU on this thread (a step, or a continue
    // started here) and its stop waits in the queue for a drain; the
    // caller's waitForStop most often takes it first.
    if (guard(() => this.native.resume(vcpu, native)) === true) {
      queueMicrotask(() => {
        if (!this.destroyed) this.waitForStop(0);
      });
    }
  }

  pause(vcpu: number): boolean {
    return guard(() => this.native.pause(vcpu));
  }

  pauseAll(waitMs: number): void {
    for (const event of guard(() => this.native.pauseAll(waitMs))) this.dispatch(event);
  }

  waitForStop(waitMs: number): void {
    for (const event of guard(() => this.native.waitForStop(waitMs))) this.dispatch(event);
  }

  stepOverAndContinue(
    vcpu: number,
    gpa: bigint,
    original: number,
  ): { shadow: number; continued: boolean } | undefined {
    const native = this.native;
    if (typeof native.stepOverAndContinue !== 'function') return undefined;
    const result = guard(() => native.stepOverAndContinue!(vcpu, Number(gpa), original));
    if (result === null) return undefined;
    this.registerCache.delete(vcpu);
    for (const event of result.events) this.dispatch(event);
    return { shadow: result.shadow, continued: result.continued };
  }

  readSocketNow(fd: number, maxBytes: number): Buffer | undefined {
    if (typeof this.addon.readSocketNow !== 'function') return undefined;
    return this.addon.readSocketNow(fd, maxBytes) ?? undefined;
  }

  writeSocketNow(fd: number, data: Buffer): number {
    if (typeof this.addon.writeSocketNow !== 'function') return 0;
    return this.addon.writeSocketNow(fd, data);
  }

  spinForInput(fd: number, microseconds: number): boolean {
    // An addon built before it had the call: no polling.
    if (typeof this.addon.spinForInput !== 'function') return false;
    return this.addon.spinForInput(fd, microseconds);
  }

  vcpuState(vcpu: number): VcpuState {
    return guard(() => this.native.vcpuState(vcpu) as VcpuState);
  }

  keepAlive(on: boolean): void {
    if (on) this.native.ref();
    else this.native.unref();
  }

  destroy(): void {
    this.destroyed = true;
    this.registerCache.clear();
    this.native.destroy();
  }
}
