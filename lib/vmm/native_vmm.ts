import { EventEmitter } from 'node:events';
import { loadAddon, type AddonName, type NativeEvent, type NativeVmm } from './addon';
import type { RegisterFile } from './registers';
import {
  VmmError,
  type BackendName,
  type DebugSlot,
  type DebugSlotKind,
  type DebugSlots,
  type MemoryRegion,
  type ResumeOptions,
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
}

/** The addon that carries each backend. */
export const ADDON_OF_BACKEND: Record<BackendName, AddonName> = {
  emu: 'emu',
  kvm: 'core',
  bhyve: 'core',
};

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

  constructor(
    readonly backend: BackendName,
    config: VmConfig,
  ) {
    super();
    const addon = loadAddon(ADDON_OF_BACKEND[backend]);
    if (addon instanceof Error) {
      throw new VmmError('ENOENT', `the ${backend} backend's addon did not load: ${addon.message}`);
    }
    const nativeConfig = {
      name: config.name ?? 'vmm-gdbstub',
      memoryBytes: config.memoryBytes,
      vcpus: config.vcpus,
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
      set(vcpu: number, list: readonly (DebugSlot | undefined)[]): void {
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
        const stop: StopEvent = {
          vcpu: event.vcpu,
          reason: event.reason as StopReason,
          rip: event.rip,
        };
        if (event.message !== undefined) stop.message = event.message;
        if (event.slot !== undefined) stop.slot = event.slot;
        if (event.address !== undefined) stop.address = event.address;
        if (event.access !== undefined) stop.access = event.access as StopEvent['access'];
        this.emit('stop', stop);
        break;
      }
      case 'started':
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
    return this.native.memoryRegions();
  }

  readPhysical(gpa: number, length: number): Buffer {
    return guard(() => this.native.readMemory(gpa, length));
  }

  writePhysical(gpa: number, data: Buffer): void {
    guard(() => this.native.writeMemory(gpa, data));
  }

  getRegisters(vcpu: number): RegisterFile {
    return guard(() => this.native.getRegisters(vcpu));
  }

  setRegisters(vcpu: number, registers: RegisterFile): void {
    guard(() => this.native.setRegisters(vcpu, registers));
  }

  gla2gpa(vcpu: number, gla: bigint, access = 1): bigint | undefined {
    return guard(() => this.native.gla2gpa(vcpu, gla, access) ?? undefined);
  }

  setBreakpointExits(on: boolean): void {
    this.native.setBreakpointExits(on);
  }

  injectException(vcpu: number, vector: number, errorCode?: number): void {
    guard(() =>
      errorCode === undefined
        ? this.native.injectException(vcpu, vector)
        : this.native.injectException(vcpu, vector, errorCode),
    );
  }

  start(): void {
    guard(() => this.native.start());
  }

  resume(vcpu: number, options: ResumeOptions = {}): void {
    const native = { step: options.step ?? false, maskInterrupts: options.maskInterrupts ?? false };
    guard(() => this.native.resume(vcpu, native));
  }

  pause(vcpu: number): boolean {
    return guard(() => this.native.pause(vcpu));
  }

  vcpuState(vcpu: number): VcpuState {
    return guard(() => this.native.vcpuState(vcpu) as VcpuState);
  }

  keepAlive(on: boolean): void {
    if (on) this.native.ref();
    else this.native.unref();
  }

  destroy(): void {
    this.native.destroy();
  }
}
