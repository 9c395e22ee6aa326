import type { EventEmitter } from 'node:events';
import type { RegisterFile } from './registers';

/** The backends a Vmm can run on. */
export type BackendName = 'emu' | 'kvm' | 'bhyve';

/** Where a vCPU's native thread is. */
export type VcpuState = 'waiting-for-sipi' | 'parked' | 'running' | 'exited';

/** Why a vCPU parked. */
export type StopReason =
  'paused' | 'breakpoint' | 'step' | 'debug-register' | 'halt' | 'shutdown' | 'error';

export interface StopEvent {
  vcpu: number;
  reason: StopReason;
  /** Where the vCPU stopped; for 'breakpoint' the address of the int3. */
  rip: bigint;
  message?: string;
}

export interface MemoryRegion {
  gpa: number;
  size: number;
}

/** Access kinds for gla2gpa, as PROT_READ / PROT_WRITE / PROT_EXEC. */
export const Access = { read: 1, write: 2, exec: 4 } as const;

export interface ResumeOptions {
  /** Run exactly one instruction, then stop with reason 'step'. */
  step?: boolean;
  /** Deliver no external interrupt while running (used while stepping). */
  maskInterrupts?: boolean;
}

export interface VmmEventMap {
  /** A vCPU parked; it stays parked until resume(). */
  stop: [StopEvent];
  /** A vCPU that waited for INIT/SIPI began to run. */
  started: [number];
  /** Bytes the guest wrote to COM1. */
  console: [Buffer];
  /** A line worth logging (an unmodelled port, ...). */
  log: [string];
}

/**
 * The contract every backend and every test double meets. Each vCPU runs on
 * its own thread; it parks on a debug exit, a halt, a shutdown or a pause
 * and reports one 'stop' event. Nothing here blocks for long.
 */
export interface Vmm extends EventEmitter<VmmEventMap> {
  readonly backend: BackendName;
  readonly vcpuCount: number;
  memoryRegions(): MemoryRegion[];
  /** Copies guest-physical memory; throws a VmmError with code EFAULT outside RAM. */
  readPhysical(gpa: number, length: number): Buffer;
  writePhysical(gpa: number, data: Buffer): void;
  /** Only while the vCPU is not running (EBUSY otherwise). */
  getRegisters(vcpu: number): RegisterFile;
  setRegisters(vcpu: number, registers: RegisterFile): void;
  /** Guest-linear to guest-physical through the vCPU's page tables; undefined on a fault. */
  gla2gpa(vcpu: number, gla: bigint, access?: number): bigint | undefined;
  /** Whether int3 stops the vCPU with reason 'breakpoint' (all vCPUs). */
  setBreakpointExits(on: boolean): void;
  /**
   * Only while the vCPU is parked: deliver exception `vector` (0-31) through
   * the guest's IDT when it next runs, at its current rip (for an int3 that
   * was not the debugger's, move rip past it first: #BP is a trap).
   */
  injectException(vcpu: number, vector: number, errorCode?: number): void;
  /** Creates the vCPU threads: vCPU 0 parked, the others waiting for INIT/SIPI. */
  start(): void;
  resume(vcpu: number, options?: ResumeOptions): void;
  /** Asks a running vCPU to park; true when a 'stop' event will follow. */
  pause(vcpu: number): boolean;
  vcpuState(vcpu: number): VcpuState;
  /** Whether the running guest keeps the Node process alive. */
  keepAlive(on: boolean): void;
  /** Stops every vCPU thread and frees the VM. */
  destroy(): void;
}

/** An error from a backend, with an errno-style code as Node's system errors have. */
export class VmmError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'VmmError';
  }
}
