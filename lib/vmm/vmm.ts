import type { EventEmitter } from 'node:events';
import type { RegisterFile } from './registers';

/** The backends a Vmm can run on. */
export type BackendName = 'emu' | 'kvm' | 'bhyve';

/** Where a vCPU's native thread is. */
export type VcpuState = 'waiting-for-sipi' | 'parked' | 'running' | 'exited';

/** Why a vCPU parked. */
export type StopReason =
  | 'paused'
  | 'breakpoint'
  | 'step'
  | 'debug-register'
  | 'watchpoint'
  | 'halt'
  | 'shutdown'
  | 'error';

/**
 * How a 'shutdown' ended the machine, where the backend knows it: a
 * power-off, a reset or every vCPU halted for good ends the guest; a triple
 * fault leaves the vCPU that took it to look at.
 */
export type MachineEnd = 'power-off' | 'reset' | 'halt' | 'triple-fault';

/** What a debug slot stops on: executing its address, or a data access (x86 DR7's R/W). */
export type DebugSlotKind = 'exec' | 'write' | 'read' | 'access';

/** One debug slot, as DR0-DR3 plus DR7 describe it. */
export interface DebugSlot {
  /** Guest-linear address. */
  address: bigint;
  kind: DebugSlotKind;
  /** Data slots: 1, 2, 4 or 8 bytes, `address` aligned to it; 1 for 'exec'. */
  length: 1 | 2 | 4 | 8;
}

/**
 * The debug slots of a backend (optional: see `Vmm.hwBreakpoints` and
 * `Vmm.watchpoints`): `count` slots per vCPU, shared by hardware breakpoints
 * and watchpoints, as x86's four debug registers are.
 */
export interface DebugSlots {
  readonly count: number;
  /** The kinds this backend can set (bhyve on FreeBSD: none; emu and kvm: all four). */
  readonly kinds: readonly DebugSlotKind[];
  /**
   * Replaces one vCPU's slots (index = slot number; undefined = free). In
   * effect from the vCPU's next entry into the guest. A hit stops it with
   * 'debug-register' (exec: before the instruction, rip = the address) or
   * 'watchpoint' (data: after the instruction that accessed the bytes).
   */
  set(vcpu: number, slots: readonly (DebugSlot | undefined)[]): void;
}

export interface StopEvent {
  vcpu: number;
  reason: StopReason;
  /** Where the vCPU stopped; for 'breakpoint' the address of the int3. */
  rip: bigint;
  message?: string;
  /** 'shutdown': how the machine ended, where the backend knows it. */
  end?: MachineEnd;
  /** 'debug-register', 'watchpoint': the debug slot hit (absent: not one of the debugger's). */
  slot?: number;
  /** 'watchpoint': the slot's address and kind. */
  address?: bigint;
  access?: Exclude<DebugSlotKind, 'exec'>;
}

export interface MemoryRegion {
  gpa: number;
  size: number;
}

/** Access kinds for gla2gpa, as PROT_READ / PROT_WRITE / PROT_EXEC. */
export const Access = { read: 1, write: 2, exec: 4 } as const;

/** A range of rip values, [start, end), as gdb's vCont;r gives it. */
export interface StepRange {
  start: bigint;
  end: bigint;
}

export interface ResumeOptions {
  /** Run exactly one instruction, then stop with reason 'step'. */
  step?: boolean;
  /**
   * With `step`: range stepping. After the first instruction the vCPU goes
   * on stepping while rip is in the range, inside the backend (no event per
   * instruction), and stops with 'step' at the first rip outside it; any
   * other stop (breakpoint, debug slot, pause) ends it as usual.
   */
  range?: StepRange;
  /** Deliver no external interrupt while running (used while stepping). */
  maskInterrupts?: boolean;
  /**
   * A continue of the only vCPU to run: where the vmm can run it on the
   * calling thread (emu), it starts there and moves to its own thread only
   * if it has not stopped within a short budget (half a millisecond to a
   * millisecond and a half), so that a stop that comes soon costs no thread
   * hand-off. Ignored where the vmm cannot, or another vCPU is running.
   */
  startHere?: boolean;
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
 * and reports one 'stop' event. Nothing here blocks for long (pauseAll
 * waits, boundedly, for vCPUs to park).
 */
export interface Vmm extends EventEmitter<VmmEventMap> {
  readonly backend: BackendName;
  readonly vcpuCount: number;
  memoryRegions(): MemoryRegion[];
  /** Copies guest-physical memory; throws a VmmError with code EFAULT outside RAM. */
  readPhysical(gpa: number, length: number): Buffer;
  /** As readPhysical, into target[offset, offset + length) (a RangeError past its end). */
  readPhysicalInto(gpa: number, length: number, target: Buffer, offset: number): void;
  writePhysical(gpa: number, data: Buffer): void;
  /** Only while the vCPU is not running (EBUSY otherwise). */
  getRegisters(vcpu: number): RegisterFile;
  setRegisters(vcpu: number, registers: RegisterFile): void;
  /** Guest-linear to guest-physical through the vCPU's page tables; undefined on a fault. */
  gla2gpa(vcpu: number, gla: bigint, access?: number): bigint | undefined;
  /** Whether int3 stops the vCPU with reason 'breakpoint' (all vCPUs). */
  setBreakpointExits(on: boolean): void;
  /** Bytes for the guest's COM1 to receive (its console input), where the backend has it. */
  serialInput?(data: Buffer): void;
  /** Present when the backend has execute debug slots (Z1). */
  readonly hwBreakpoints?: DebugSlots;
  /** Present when it has data debug slots (Z2-Z4); the same slots as `hwBreakpoints`. */
  readonly watchpoints?: DebugSlots;
  /**
   * Only while the vCPU is parked: deliver exception `vector` (0-31) through
   * the guest's IDT when it next runs, at its current rip (for an int3 that
   * was not the debugger's, move rip past it first: #BP is a trap).
   */
  injectException(vcpu: number, vector: number, errorCode?: number): void;
  /**
   * Creates the vCPU threads, the others than vCPU 0 waiting for INIT/SIPI.
   * vCPU 0 is 'held' (parked before its first instruction, until a debugger
   * resumes it: what `--wait` does) or 'running'. Default 'held'.
   */
  start(mode?: StartMode): void;
  resume(vcpu: number, options?: ResumeOptions): void;
  /** Asks a running vCPU to park; true when a 'stop' event will follow. */
  pause(vcpu: number): boolean;
  /**
   * Asks every running vCPU to park and waits up to `waitMs` for them: the
   * events that arrived by then ('stop' of those that parked in time, and
   * any other) are emitted, in order, before it returns; later ones follow
   * as usual. For a stop that needs every vCPU (Ctrl-C, a breakpoint in
   * all-stop mode) without a trip through the event loop per vCPU.
   */
  pauseAll(waitMs: number): void;
  /**
   * Waits up to `waitMs` for a vCPU to park, emitting the events that
   * arrived by then before it returns. Right after a resume, it saves a
   * short step or run its trip through the event loop.
   */
  waitForStop(waitMs: number): void;
  /**
   * Polls `fd` (the debugger's socket) on this thread for up to
   * `microseconds` before the event loop would sleep on it; true once it is
   * readable. Absent where the backend cannot (the mock): the caller just
   * returns to the event loop.
   */
  spinForInput?(fd: number, microseconds: number): boolean;
  /**
   * What `fd` (the debugger's socket) holds now, read on this thread
   * without a turn of the event loop; undefined when there is nothing to
   * take now (no data, the end, an error: Node's own read finds those).
   * Absent where the backend cannot.
   */
  readSocketNow?(fd: number, maxBytes: number): Buffer | undefined;
  /**
   * Writes what `fd` takes now of `data`, bypassing Node's stream; returns
   * how many bytes (0: none, the caller writes them through the stream).
   * Only while nothing the stream holds waits to be written. Absent where
   * the backend cannot.
   */
  writeSocketNow?(fd: number, data: Buffer): number;
  /**
   * Steps parked `vcpu` over the software breakpoint at `gpa` (the byte
   * `original` in place of its 0xCC for one interrupt-masked step, the 0xCC
   * back) and, when that step ended as a plain step, continues it, in one
   * call: a breakpoint whose condition is false costs no trip through the
   * caller between the step and the continue. The events queued meanwhile
   * (the step's own stop, unless it continued) are emitted before it
   * returns. Undefined where the backend cannot (it did nothing); else the
   * byte the step left under the 0xCC (its shadow now) and whether the
   * vCPU continued.
   */
  stepOverAndContinue?(
    vcpu: number,
    gpa: bigint,
    original: number,
  ): { shadow: number; continued: boolean } | undefined;
  vcpuState(vcpu: number): VcpuState;
  /** Whether the running guest keeps the Node process alive. */
  keepAlive(on: boolean): void;
  /** Stops every vCPU thread and frees the VM. */
  destroy(): void;
}

/** An error from a backend, with an errno-style code as Node's system errors have. */
/** How `Vmm.start` leaves vCPU 0: parked before its first instruction, or running. */
export type StartMode = 'held' | 'running';

export class VmmError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'VmmError';
  }
}
