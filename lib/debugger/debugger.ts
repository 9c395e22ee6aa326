import { EventEmitter } from 'node:events';
import type { MachineEnd, ResumeOptions, StepRange, StopEvent, Vmm } from '../vmm/vmm';
import { Access } from '../vmm/vmm';
import type { RegisterFile } from '../vmm/registers';
import { BreakpointTable, INT3 } from './breakpoints';
import { HardwareSlots, type InsertResult, type WatchKind } from './hw_slots';
import { physicalRange, readChunks, readVirtual, translateRange } from './guest_memory';
import type { HitContext, HitProgram, HitVerdict, ProgramBreakpoint } from './hit_program';

/** A stop as the debugger reports it: the vCPU that stopped and why. */
export interface Stop {
  vcpu: number;
  /** 'interrupt' for a stop the debugger asked for (Ctrl-C, attach). */
  reason: StopEvent['reason'] | 'interrupt';
  rip: bigint;
  message?: string;
  /** 'shutdown': how the machine ended, where the backend knows it. */
  end?: MachineEnd;
  /** 'debug-register', 'watchpoint': the debug slot hit, when it is one of ours. */
  slot?: number;
  /** 'watchpoint': what was asked to be watched there. */
  watch?: { kind: WatchKind; address: bigint };
}

/** Whether a stop is the end of the guest: a power-off, a reset, every vCPU halted for good. */
export function endsGuest(stop: Pick<Stop, 'reason' | 'end'>): boolean {
  return (
    stop.reason === 'shutdown' &&
    (stop.end === 'power-off' || stop.end === 'reset' || stop.end === 'halt')
  );
}

/**
 * What one vCPU does on a resume; vCPUs without an action stay stopped. A
 * range is a range step (vCont;r): one step, then more while rip is in it.
 */
export type ResumeAction = 'continue' | 'step' | StepRange;

/** How the vmm runs a vCPU for an action: steps are interrupt-masked. */
function resumeOptions(action: ResumeAction): ResumeOptions {
  if (action === 'continue') return {};
  if (action === 'step') return { step: true, maskInterrupts: true };
  return { step: true, maskInterrupts: true, range: action };
}

/** How m/M/x/X/Z0 addresses are read: through the vCPU's page tables, or as guest-physical. */
export type AddressSpace = 'virtual' | 'physical';

/** The address a breakpoint was asked for at, and how that address was read. */
export interface RequestedAddress {
  address: bigint;
  space: AddressSpace;
}

/** A software breakpoint as `monitor info breakpoints` shows it. */
export interface SoftwareBreakpoint {
  gpa: bigint;
  /** The byte the 0xCC replaced. */
  shadow: number;
  /** False when the guest has written over the 0xCC since. */
  intact: boolean;
  requested?: RequestedAddress;
}

interface DebuggerEvents {
  /** Every vCPU is parked; `stop` is the one to report. */
  stopped: [Stop];
  /** Text for the client's console while the guest runs (dprintf output, evaluation errors). */
  output: [string];
}

/** Where a vCPU stopped at one of our breakpoints: the int3's gpa or the execute slot. */
interface HitPosition {
  vcpu: number;
  gpa?: bigint;
  slot?: number;
}

/** The #BP vector, delivered to the guest for an int3 that is not ours. */
const VECTOR_BP = 3;
/**
 * How long a stop of every vCPU blocks the event loop waiting for them to
 * park (Vmm.pauseAll); a vCPU slower than this reports through the event
 * loop instead. Parking takes tens of microseconds on emu, up to a few
 * milliseconds for dozens of vCPUs under PVM.
 */
const PAUSE_ALL_WAIT_MS = 20;
/**
 * How long a resume blocks the event loop waiting for the first stop
 * (Vmm.waitForStop): a single step, or a continue that hits a breakpoint
 * soon, then reports without a trip through the event loop. Longer runs
 * report through the event loop, a millisecond later at most.
 */
const RESUME_WAIT_MS = 1;
/**
 * How long hits whose program says go on may follow one another without a
 * turn of the event loop: each resume waits synchronously for the next hit,
 * so a busy breakpoint would otherwise keep the client's Ctrl-C and the
 * output unread. dprintf lines go out at the end of each burst: with 5 ms,
 * gdb on a terminal showed the first of 500 lines 7-17 ms after `continue`,
 * with 1 ms 2.5-7 ms.
 */
const SILENT_BURST_MS = 1;

/**
 * The all-stop engine. A stop on one vCPU stops all before it is reported;
 * the reported vCPU is the one that stopped first; stops other vCPUs hit
 * meanwhile are queued and reported on the next resume instead of running.
 * It owns the software breakpoints: a resume steps a vCPU that sits on one
 * of them over it first, with the original byte back for that one step.
 */
export class Debugger extends EventEmitter<DebuggerEvents> {
  /** 'resuming': stepping vCPUs over breakpoints before the real resume. */
  private phase: 'running' | 'stopping' | 'stopped' | 'resuming' = 'stopped';
  private reported: Stop | undefined;
  private readonly queued: Stop[] = [];
  /**
   * vCPUs whose stop event has not arrived yet. Kept from events, not from
   * the native state, so that a stop still on its way is never lost.
   */
  private readonly running = new Set<number>();
  readonly breakpoints: BreakpointTable;
  /** Hardware breakpoints and watchpoints (the backend's debug slots). */
  readonly hardware: HardwareSlots;
  /** A step over a breakpoint in progress: its vCPU's next stop goes here. */
  private internalStep: { vcpu: number; done: (event: StopEvent) => void } | undefined;
  private interruptWhileResuming = false;
  /** Bumped by detach: a resume still stepping over breakpoints then gives up. */
  private epoch = 0;
  /** How memory and Z0 addresses are read (`monitor phys`); virtual again on detach. */
  addressSpace: AddressSpace = 'virtual';
  /** vCPUs held by `monitor pause`: every continue leaves them parked until released. */
  private readonly held = new Set<number>();
  /** Where each software breakpoint (by gpa) was asked for. */
  private readonly requested = new Map<bigint, RequestedAddress>();
  /**
   * vCPUs that stopped for good (triple fault, shutdown, an exit the backend
   * cannot continue from), and why: they stay parked, their registers readable.
   */
  private readonly dead = new Map<number, string>();
  /** Why the guest ended (powered off, reset, every vCPU halted for good); undefined while it has not. */
  private endReason: string | undefined;
  /**
   * Detached, and no debugger since: a stop still on its way (a step or a
   * range step in flight when the client went away) lets its vCPU run on.
   */
  private free = false;
  /**
   * Breakpoints with conditions or commands, by `sw:<gpa>` or `hw:<linear
   * address>`; kept after gdb removes them, for their counts.
   */
  private readonly programs = new Map<string, ProgramBreakpoint>();
  /** The actions of the client's last resume: what a silent stop resumes again. */
  private lastActions = new Map<number, ResumeAction>();
  /**
   * Set while every vCPU stops for a hit whose program said not to stop: once
   * all are parked they resume (stepping over the breakpoint) instead of
   * reporting.
   */
  private silentStop = false;
  /** The breakpoint the vCPU of a silent stop sits on: its resume need not read registers again. */
  private silentHit: HitPosition | undefined;
  /** When the current run of silent resumes began, within one turn of the event loop. */
  private burstStart: number | undefined;

  constructor(readonly vmm: Vmm) {
    super();
    this.breakpoints = new BreakpointTable(vmm);
    this.hardware = new HardwareSlots(vmm, () => this.vcpus());
    vmm.on('stop', (event) => this.onVcpuStop(event));
    vmm.on('started', (vcpu) => this.onVcpuStarted(vcpu));
    for (const vcpu of this.vcpus()) {
      if (vmm.vcpuState(vcpu) === 'running') this.running.add(vcpu);
    }
    this.phase = this.running.size > 0 ? 'running' : 'stopped';
  }

  get isStopped(): boolean {
    return this.phase === 'stopped';
  }

  /** The stop last reported, if the guest is stopped. */
  get lastStop(): Stop | undefined {
    return this.phase === 'stopped' ? this.reported : undefined;
  }

  vcpus(): number[] {
    return Array.from({ length: this.vmm.vcpuCount }, (_, i) => i);
  }

  /** Stops every vCPU (attach, Ctrl-C); resolves with the stop to report. */
  interrupt(): Promise<Stop> {
    this.free = false;
    if (this.phase === 'stopped') {
      return Promise.resolve(this.reported ?? { vcpu: 0, reason: 'interrupt', rip: this.rip(0) });
    }
    const stopped = this.nextStop();
    if (this.phase === 'resuming') this.interruptWhileResuming = true;
    if (this.phase === 'stopping' && this.silentStop) {
      // The stop under way was to resume after a false condition: it answers the interrupt instead.
      this.silentStop = false;
      this.silentHit = undefined;
      this.reported = { vcpu: this.reported?.vcpu ?? 0, reason: 'interrupt', rip: 0n };
    }
    if (this.phase === 'running') {
      this.beginStopping({ vcpu: 0, reason: 'interrupt', rip: 0n });
    }
    return stopped;
  }

  /** Resumes every vCPU; resolves when the guest next stops. */
  continue(): Promise<Stop> {
    return this.resume(new Map(this.vcpus().map((v) => [v, 'continue' as const])));
  }

  /** Steps one vCPU with interrupts masked; the others stay stopped. */
  step(vcpu: number): Promise<Stop> {
    return this.resume(new Map([[vcpu, 'step' as const]]));
  }

  /**
   * Resumes the vCPUs in `actions` (all-stop: the first stop of any stops
   * all and is the one reported); vCPUs not in it stay stopped.
   */
  resume(requested: Map<number, ResumeAction>): Promise<Stop> {
    this.free = false;
    // A held vCPU is not continued; an explicit step of it is still honoured.
    const actions = new Map(
      [...requested].filter(
        ([v, a]) => !this.dead.has(v) && (a !== 'continue' || !this.held.has(v)),
      ),
    );
    if (this.phase !== 'stopped') return this.nextStop();
    const stopped = this.nextStop();
    this.lastActions = actions;
    this.startResume(actions);
    return stopped;
  }

  /** Reports the first queued stop still valid, or resumes `actions`. */
  private startResume(requested: Map<number, ResumeAction>, hit?: HitPosition): void {
    const actions = new Map([...requested].filter(([v]) => !this.dead.has(v)));
    while (this.queued.length > 0) {
      const pending = this.queued.shift()!;
      if (pending.reason === 'breakpoint' && !this.isOurBreakpoint(pending.vcpu, pending.rip)) {
        continue; // removed since it was hit: the vCPU runs the original instruction
      }
      if (this.isRemovedSlot(pending)) continue; // likewise for a debug slot
      this.reported = pending;
      queueMicrotask(() => this.emit('stopped', pending));
      return;
    }
    this.reported = undefined;
    this.phase = 'resuming';
    this.interruptWhileResuming = false;
    const epoch = this.epoch;
    void this.resumeAfterStepOvers(actions, hit).catch((error: unknown) => {
      if (epoch !== this.epoch) return;
      const message = error instanceof Error ? error.message : String(error);
      this.report({ vcpu: 0, reason: 'error', rip: 0n, message });
    });
  }

  private async resumeAfterStepOvers(
    actions: Map<number, ResumeAction>,
    hit?: HitPosition,
  ): Promise<void> {
    const epoch = this.epoch;
    const anyToStepOver = this.breakpoints.size > 0 || this.hardware.size > 0;
    for (const [vcpu, action] of anyToStepOver ? actions : []) {
      if (this.vmm.vcpuState(vcpu) !== 'parked') continue;
      // One register read serves both checks.
      let gpa: bigint | undefined;
      let slot: number | undefined;
      if (hit?.vcpu === vcpu) {
        ({ gpa, slot } = hit);
      } else {
        const regs = this.vmm.getRegisters(vcpu);
        gpa = this.breakpointAt(vcpu, regs.rip);
        slot = this.hardwareBreakpointAt(regs);
      }
      if (gpa === undefined && slot === undefined) continue;
      // A lone vCPU that continues from a software breakpoint, with no debug
      // slot in use: the vmm may step over it and continue in one call.
      const alone =
        slot === undefined &&
        action === 'continue' &&
        actions.size === 1 &&
        this.hardware.size === 0 &&
        !this.interruptWhileResuming;
      const fast = alone && gpa !== undefined ? this.stepOverAndContinue(vcpu, gpa) : undefined;
      if (fast === 'running') return;
      const event = fast ?? (await this.stepOver(vcpu, gpa, slot));
      if (epoch !== this.epoch) return; // detached meanwhile
      const noise = event.reason === 'watchpoint' && this.isWatchNoise(event);
      const inRange =
        typeof action === 'object' && event.rip >= action.start && event.rip < action.end;
      const stepped = event.reason === 'step' || noise;
      if (action === 'step' || (typeof action === 'object' && !(stepped && inRange)) || !stepped) {
        // The step over the breakpoint was the step asked for (or it stopped for a reason of its own).
        this.report(this.toStop(noise ? { ...event, reason: 'step' } : event));
        return;
      }
    }
    this.snapshotEmulatedReads();
    if (this.interruptWhileResuming) {
      this.report({ vcpu: 0, reason: 'interrupt', rip: this.rip(0) });
      return;
    }
    this.phase = 'running';
    // A lone vCPU's continue may start on this thread (ResumeOptions.startHere):
    // the stop gdb waits for then most often needs no thread hand-off.
    const startHere = actions.size === 1;
    for (const [vcpu, action] of actions) {
      if (this.vmm.vcpuState(vcpu) !== 'parked') continue;
      this.vmm.resume(vcpu, { ...resumeOptions(action), startHere });
      this.running.add(vcpu);
    }
    if (this.running.size === 0) {
      this.report({ vcpu: 0, reason: 'interrupt', rip: this.rip(0) }); // nothing could run
      return;
    }
    this.vmm.waitForStop(RESUME_WAIT_MS);
  }

  /**
   * The step over the breakpoint at `gpa` and the continue after it in one
   * call into the vmm (Vmm.stepOverAndContinue): 'running' when the vCPU
   * runs again; the step's own stop when it stopped for a reason of its own
   * (the caller decides, as after stepOver); undefined where the vmm cannot
   * (it did nothing).
   */
  private stepOverAndContinue(vcpu: number, gpa: bigint): 'running' | StopEvent | undefined {
    const original = this.breakpoints.shadowOf(gpa);
    if (original === undefined || this.vmm.stepOverAndContinue === undefined) return undefined;
    let stepStop: StopEvent | undefined;
    // The step's stop, when the vmm did not continue, reaches onVcpuStop during the call.
    this.internalStep = { vcpu, done: (event) => (stepStop = event) };
    let outcome: { shadow: number; continued: boolean } | undefined;
    try {
      outcome = this.vmm.stepOverAndContinue(vcpu, gpa, original);
    } finally {
      if (this.internalStep?.vcpu === vcpu) this.internalStep = undefined;
    }
    if (outcome === undefined) return undefined;
    this.breakpoints.steppedOver(gpa, outcome.shadow);
    if (!outcome.continued) {
      return (
        stepStop ?? {
          vcpu,
          reason: 'error',
          rip: 0n,
          message: 'the step over a breakpoint ended without a stop',
        }
      );
    }
    this.phase = 'running';
    this.running.add(vcpu);
    // In a microtask, not here: the next hit's silent resume would run inside
    // this one's call chain, a level deeper each hit of a burst.
    queueMicrotask(() => {
      if (this.phase === 'running' && this.running.has(vcpu)) this.vmm.waitForStop(RESUME_WAIT_MS);
    });
    return 'running';
  }

  /**
   * One step of `vcpu` with the original byte at `gpa` back in place and its
   * debug slot `slot` off (RF is not reliable on every backend, e.g. PVM).
   */
  private stepOver(
    vcpu: number,
    gpa: bigint | undefined,
    slot: number | undefined,
  ): Promise<StopEvent> {
    const restore = (): void => {
      if (gpa !== undefined) this.breakpoints.plant(gpa);
      if (slot !== undefined) this.hardware.apply(vcpu);
    };
    return new Promise<StopEvent>((resolve, reject) => {
      this.internalStep = {
        vcpu,
        done: (event) => {
          try {
            restore();
            resolve(event);
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        },
      };
      try {
        if (gpa !== undefined) this.breakpoints.lift(gpa);
        if (slot !== undefined) this.hardware.applyWithout(vcpu, slot);
        this.vmm.resume(vcpu, { step: true, maskInterrupts: true });
      } catch (error) {
        this.internalStep = undefined;
        try {
          restore();
        } finally {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
        return;
      }
      this.vmm.waitForStop(RESUME_WAIT_MS); // the step's stop, most often
    });
  }

  /** The stop to report for a vCPU's event, with what the debug slot it hit was for. */
  private toStop(event: StopEvent): Stop {
    const stop: Stop = { vcpu: event.vcpu, reason: event.reason, rip: event.rip };
    if (event.message !== undefined) stop.message = event.message;
    if (event.end !== undefined) stop.end = event.end;
    if (event.slot !== undefined) {
      stop.slot = event.slot;
      const entry = this.hardware.entry(event.slot);
      if (event.reason === 'watchpoint' && entry !== undefined && entry.kind !== 'exec') {
        stop.watch = { kind: entry.kind, address: entry.address };
      }
    }
    return stop;
  }

  private report(stop: Stop): void {
    this.phase = 'stopped';
    this.reported = stop;
    this.emit('stopped', stop);
  }

  /**
   * Removes every breakpoint and resumes every vCPU: the debugger is gone
   * (D, k, a dropped connection). Guest memory is as without the debugger.
   */
  detach(): void {
    this.breakpoints.removeAll();
    this.hardware.removeAll();
    this.requested.clear();
    this.programs.clear();
    this.silentStop = false;
    this.silentHit = undefined;
    this.held.clear();
    this.addressSpace = 'virtual';
    this.queued.length = 0;
    this.reported = undefined;
    // A step over a breakpoint in flight finishes on its own; its vCPU is resumed then.
    this.epoch++;
    this.phase = 'running';
    this.free = true;
    this.resumeParked();
  }

  /** Removes every breakpoint without resuming (kill: the VM goes away). */
  removeAllBreakpoints(): void {
    this.breakpoints.removeAll();
    this.hardware.removeAll();
    this.requested.clear();
    this.programs.clear();
  }

  /** `monitor pause`: keeps `vcpu` parked across continues until `release` (or detach). */
  hold(vcpu: number): void {
    this.held.add(vcpu);
  }

  /** `monitor resume`: `vcpu` runs again with the next continue. */
  release(vcpu: number): void {
    this.held.delete(vcpu);
  }

  isHeld(vcpu: number): boolean {
    return this.held.has(vcpu);
  }

  /** Why `vcpu` cannot run again (triple fault, ...), or undefined while it can. */
  deadReason(vcpu: number): string | undefined {
    return this.dead.get(vcpu);
  }

  /**
   * Why the guest as a whole has ended (a power-off, a reset, every vCPU
   * halted for good: gdb's exit reply), or undefined while it has not.
   */
  guestEnded(): string | undefined {
    return this.endReason;
  }

  /** Why `vcpu` cannot run now (stopped for good, or waiting for SIPI), or undefined. */
  cannotRun(vcpu: number): string | undefined {
    const dead = this.dead.get(vcpu);
    if (dead !== undefined) return `stopped for good: ${dead}`;
    return this.vmm.vcpuState(vcpu) === 'waiting-for-sipi' ? 'waiting for SIPI' : undefined;
  }

  /** The inserted software breakpoints, by guest-physical address. */
  softwareBreakpoints(): SoftwareBreakpoint[] {
    return this.breakpoints.addresses().map((gpa) => {
      const intact = this.vmm.readPhysical(Number(gpa), 1)[0] === INT3;
      const entry: SoftwareBreakpoint = { gpa, shadow: this.breakpoints.shadowOf(gpa)!, intact };
      const requested = this.requested.get(gpa);
      if (requested !== undefined) entry.requested = requested;
      return entry;
    });
  }

  /**
   * Z1-Z4: a hardware breakpoint ('exec') or watchpoint at a guest-linear
   * address (debug slots compare linear addresses, whatever addressSpace
   * says), on every vCPU.
   */
  insertHardware(
    kind: 'exec' | WatchKind,
    address: bigint,
    length: 1 | 2 | 4 | 8,
    program?: HitProgram,
  ): InsertResult {
    const linear = address & 0xffffffffffffffffn;
    const result = this.hardware.insert(kind, linear, length);
    if (result === 'ok' && kind === 'read') this.snapshotEmulatedReads();
    if (result === 'ok' && kind === 'exec')
      this.setProgram('hardware', `hw:${linear}`, address, program);
    return result;
  }

  /** z1-z4; removing one that is not there is fine. */
  removeHardware(kind: 'exec' | WatchKind, address: bigint, length: 1 | 2 | 4 | 8): void {
    const linear = address & 0xffffffffffffffffn;
    this.hardware.remove(kind, linear, length);
    if (kind === 'exec') this.unsetProgram(`hw:${linear}`);
  }

  /** The breakpoints with conditions or commands this session, inserted or not. */
  programBreakpoints(): ProgramBreakpoint[] {
    return [...this.programs.values()];
  }

  /** Z0/Z1 with conditions or commands replaces the old ones; without, the breakpoint has none. */
  private setProgram(
    kind: ProgramBreakpoint['kind'],
    key: string,
    address: bigint,
    program: HitProgram | undefined,
  ): void {
    if (program === undefined) {
      this.programs.delete(key);
      return;
    }
    const known = this.programs.get(key);
    if (known !== undefined) {
      known.program = program;
      known.inserted = true;
      known.address = address;
      return;
    }
    this.programs.set(key, {
      kind,
      address,
      inserted: true,
      program,
      hits: 0,
      evaluations: 0,
      stops: 0,
    });
  }

  private unsetProgram(key: string): void {
    const known = this.programs.get(key);
    if (known !== undefined) known.inserted = false;
  }

  /** The program of the breakpoint a stop event is at, if it has one, and where that is. */
  private programAt(
    event: StopEvent,
  ): { breakpoint: ProgramBreakpoint; position: HitPosition } | undefined {
    if (this.programs.size === 0) return undefined;
    let key: string | undefined;
    const position: HitPosition = { vcpu: event.vcpu };
    if (event.reason === 'breakpoint') {
      const gpa = this.translate(event.vcpu, event.rip);
      if (gpa !== undefined && this.breakpoints.has(gpa)) key = `sw:${gpa}`;
      position.gpa = gpa;
    } else if (event.reason === 'debug-register' && event.slot !== undefined) {
      const entry = this.hardware.entry(event.slot);
      if (entry?.kind === 'exec') key = `hw:${entry.address}`;
      position.slot = event.slot;
    }
    const breakpoint = key === undefined ? undefined : this.programs.get(key);
    return breakpoint?.inserted === true ? { breakpoint, position } : undefined;
  }

  /** Runs a breakpoint's program on the vCPU that hit it; its output goes to the client. */
  private runProgram(breakpoint: ProgramBreakpoint, vcpu: number): HitVerdict {
    let registers: RegisterFile | undefined;
    const context: HitContext = {
      vcpu,
      registers: () => (registers ??= this.vmm.getRegisters(vcpu)),
      readMemory: (address, length) => {
        try {
          const data = this.readMemory(vcpu, address, length);
          return data.length === length ? data : undefined;
        } catch {
          return undefined;
        }
      },
    };
    let verdict: HitVerdict;
    try {
      verdict = breakpoint.program.run(context);
    } catch (error) {
      // A bug, not the guest's doing: stop and say so rather than lose the hit.
      const message = error instanceof Error ? error.message : String(error);
      verdict = {
        stop: true,
        output: `vmm-gdbstub: breakpoint program failed: ${message}\n`,
        evaluations: 0,
      };
    }
    breakpoint.hits++;
    breakpoint.evaluations += verdict.evaluations;
    if (verdict.stop) breakpoint.stops++;
    if (verdict.output !== '') this.emit('output', verdict.output);
    return verdict;
  }

  private resumeParked(): void {
    for (const vcpu of this.vcpus()) {
      if (this.internalStep?.vcpu === vcpu || this.dead.has(vcpu)) continue;
      if (this.vmm.vcpuState(vcpu) === 'parked') {
        this.vmm.resume(vcpu);
        this.running.add(vcpu);
      }
    }
  }

  registers(vcpu: number): RegisterFile {
    return this.vmm.getRegisters(vcpu);
  }

  /** G, P: only while stopped (the vmm refuses a running vCPU with EBUSY). */
  setRegisters(vcpu: number, regs: RegisterFile): void {
    this.vmm.setRegisters(vcpu, regs);
  }

  /** Guest-physical address of a guest-virtual one, as `vcpu` sees it. */
  translate(vcpu: number, address: bigint): bigint | undefined {
    try {
      return this.vmm.gla2gpa(vcpu, address & 0xffffffffffffffffn, Access.read);
    } catch {
      return undefined;
    }
  }

  /** Z0: false when the address is not mapped to guest RAM. */
  insertBreakpoint(vcpu: number, address: bigint, program?: HitProgram): boolean {
    const chunk = this.memoryChunks(vcpu, address, 1)[0];
    if (chunk === undefined) return false;
    if (!this.breakpoints.has(chunk.gpa)) {
      this.requested.set(chunk.gpa, { address, space: this.addressSpace });
    }
    this.breakpoints.insert(chunk.gpa);
    this.setProgram('software', `sw:${chunk.gpa}`, address, program);
    return true;
  }

  /** z0: false when the address is not mapped (removing an absent one is fine). */
  removeBreakpoint(vcpu: number, address: bigint): boolean {
    // gdb removes at the address it inserted at, even if `monitor phys` changed modes since.
    const gpa =
      this.insertedAt(address) ??
      (this.addressSpace === 'physical' ? address : this.translate(vcpu, address));
    if (gpa === undefined) return false;
    this.breakpoints.remove(gpa);
    this.requested.delete(gpa);
    this.unsetProgram(`sw:${gpa}`);
    return true;
  }

  /**
   * Reads guest-virtual memory as vCPU `vcpu` sees it: the readable prefix,
   * breakpoints hidden. With `into` (at least `length` bytes) the bytes go
   * there and the result is a view of it.
   */
  readMemory(vcpu: number, address: bigint, length: number, into?: Buffer): Buffer {
    return readChunks(
      this.vmm,
      this.memoryChunks(vcpu, address, length),
      (gpa, data) => this.breakpoints.hide(gpa, data),
      into,
    );
  }

  /** Writes guest-virtual memory: all or nothing; false when any page is not writable RAM. */
  writeMemory(vcpu: number, address: bigint, data: Buffer): boolean {
    const chunks = this.memoryChunks(vcpu, address, data.length);
    const covered = chunks.reduce((sum, c) => sum + c.length, 0);
    if (covered < data.length) return false;
    let offset = 0;
    for (const chunk of chunks) {
      this.breakpoints.writeThrough(chunk.gpa, data.subarray(offset, offset + chunk.length));
      offset += chunk.length;
    }
    return true;
  }

  /** The gpa of the breakpoint asked for at `address`, preferring the current address space. */
  private insertedAt(address: bigint): bigint | undefined {
    let found: bigint | undefined;
    for (const [gpa, requested] of this.requested) {
      if (requested.address !== address) continue;
      if (requested.space === this.addressSpace) return gpa;
      found = gpa;
    }
    return found;
  }

  /** A memory range as guest-physical chunks, per addressSpace: the accessible prefix. */
  private memoryChunks(vcpu: number, address: bigint, length: number) {
    if (this.addressSpace === 'physical') return physicalRange(this.vmm, address, length);
    return translateRange(this.vmm, vcpu, address, length);
  }

  /** Reads without hiding (what the guest executes); for tests and diagnostics. */
  readRaw(vcpu: number, address: bigint, length: number): Buffer {
    return readVirtual(this.vmm, vcpu, address, length);
  }

  private rip(vcpu: number): bigint {
    return this.vmm.vcpuState(vcpu) === 'running' ? 0n : this.vmm.getRegisters(vcpu).rip;
  }

  /** The breakpoint (gpa) at a parked vCPU's rip, if one of ours is there. */
  private breakpointAt(vcpu: number, rip: bigint): bigint | undefined {
    if (this.breakpoints.size === 0) return undefined;
    const gpa = this.translate(vcpu, rip);
    return gpa !== undefined && this.breakpoints.has(gpa) ? gpa : undefined;
  }

  /** The execute debug slot at a parked vCPU's rip (a linear address: CS base + rip). */
  private hardwareBreakpointAt(regs: RegisterFile): number | undefined {
    if (this.hardware.size === 0) return undefined;
    return this.hardware.execSlotAt((regs.cs.base + regs.rip) & 0xffffffffffffffffn);
  }

  /** A debug-slot stop whose slot was freed since it was hit. */
  private isRemovedSlot(stop: Stop): boolean {
    if (stop.slot === undefined) return false;
    const entry = this.hardware.entry(stop.slot);
    if (stop.reason === 'debug-register') return entry?.kind !== 'exec';
    if (stop.reason === 'watchpoint') return entry === undefined || entry.kind === 'exec';
    return false;
  }

  /**
   * A watchpoint stop not to report: its slot was freed since, or it is a
   * read watchpoint emulated with an access slot and the bytes changed (a
   * write; a write of the same value cannot be told from a read).
   */
  private isWatchNoise(event: StopEvent): boolean {
    if (event.slot === undefined) return false;
    const entry = this.hardware.entry(event.slot);
    if (entry === undefined || entry.kind === 'exec') return true;
    if (entry.emulatedRead === undefined) return false;
    const before = entry.emulatedRead.snapshot;
    const now = this.readSnapshot(event.vcpu, entry.address, entry.length);
    entry.emulatedRead.snapshot = now;
    return before !== undefined && now !== undefined && !before.equals(now);
  }

  /** Before the guest runs: what each emulated read watchpoint's bytes hold. */
  private snapshotEmulatedReads(): void {
    const entries = this.hardware.entries().filter((e) => e.emulatedRead !== undefined);
    if (entries.length === 0) return;
    const vcpu = this.vcpus().find((v) => this.vmm.vcpuState(v) === 'parked') ?? 0;
    for (const entry of entries) {
      entry.emulatedRead!.snapshot = this.readSnapshot(vcpu, entry.address, entry.length);
    }
  }

  private readSnapshot(vcpu: number, address: bigint, length: number): Buffer | undefined {
    try {
      const bytes = readVirtual(this.vmm, vcpu, address, length);
      return bytes.length === length ? bytes : undefined;
    } catch {
      return undefined;
    }
  }

  private isOurBreakpoint(vcpu: number, rip: bigint): boolean {
    const gpa = this.translate(vcpu, rip);
    return gpa !== undefined && this.breakpoints.has(gpa);
  }

  /**
   * An int3 exit that is not ours: the guest's own int3 gets its #BP (rip
   * past the int3, as the trap leaves it); one of ours removed since (no
   * 0xCC there any more) is simply run again. True when it was handled so.
   */
  private handleForeignInt3(event: StopEvent): boolean {
    if (event.reason !== 'breakpoint') return false;
    const gpa = this.translate(event.vcpu, event.rip);
    if (gpa !== undefined && this.breakpoints.has(gpa)) return false;
    try {
      let byte: number | undefined;
      if (gpa !== undefined) byte = this.vmm.readPhysical(Number(gpa), 1)[0];
      if (byte === undefined || byte === INT3) {
        const regs = this.vmm.getRegisters(event.vcpu);
        regs.rip = (event.rip + 1n) & 0xffffffffffffffffn;
        this.vmm.setRegisters(event.vcpu, regs);
        this.vmm.injectException(event.vcpu, VECTOR_BP);
      }
    } catch {
      return false; // report it rather than lose it
    }
    return true;
  }

  /** A debug-slot hit not to report: the vCPU just goes on (handled like a foreign int3). */
  private isStaleSlotHit(event: StopEvent): boolean {
    if (event.reason === 'watchpoint') return this.isWatchNoise(event);
    if (event.reason !== 'debug-register' || event.slot === undefined) return false;
    return this.hardware.entry(event.slot)?.kind !== 'exec'; // freed since: run the instruction
  }

  private nextStop(): Promise<Stop> {
    return new Promise((resolve) => this.once('stopped', resolve));
  }

  private beginStopping(first: Stop, silent = false): void {
    this.phase = 'stopping';
    this.reported = first;
    this.silentStop = silent;
    // The stop events of the vCPUs that park within the wait arrive inside
    // this call (onVcpuStop, which may already finish the stop).
    if (this.running.size > 0) this.vmm.pauseAll(PAUSE_ALL_WAIT_MS);
    this.finishIfAllParked();
  }

  private onVcpuStop(original: StopEvent): void {
    if (this.internalStep?.vcpu === original.vcpu) {
      const { done } = this.internalStep;
      this.internalStep = undefined;
      done(original);
      if (this.phase === 'running' && this.vmm.vcpuState(original.vcpu) === 'parked') {
        // Detached while it stepped: it runs on with the others.
        this.vmm.resume(original.vcpu);
        this.running.add(original.vcpu);
      }
      return;
    }
    const dies = original.reason === 'shutdown' || original.reason === 'error';
    if (this.free && this.phase === 'running' && !dies) {
      this.vmm.resume(original.vcpu); // nobody to report it to
      return;
    }
    this.running.delete(original.vcpu);
    if (dies) {
      this.dead.set(original.vcpu, original.message ?? original.reason);
      if (endsGuest(original)) this.endReason ??= original.message ?? original.end;
    }
    let event = original;
    if (this.handleForeignInt3(original) || this.isStaleSlotHit(original)) {
      if (this.phase === 'running') {
        this.vmm.resume(event.vcpu);
        this.running.add(event.vcpu);
        return;
      }
      event = { ...original, reason: 'paused' }; // parked with its #BP pending
    }
    const hit = this.programAt(event);
    if (hit !== undefined && !this.runProgram(hit.breakpoint, event.vcpu).stop) {
      if (this.phase === 'running') {
        // Every vCPU parks (the step over the int3 needs the original byte back), then all resume.
        this.silentHit = hit.position;
        this.beginStopping(this.toStop(event), true);
        return;
      }
      event = { ...event, reason: 'paused' }; // a stop is under way: the next resume steps it over
    }
    const stop = this.toStop(event);
    if (this.phase === 'running') {
      this.beginStopping(stop);
      return;
    }
    if (this.phase === 'stopping') {
      if (this.reported?.reason === 'interrupt') {
        // The first vCPU to park answers the interrupt.
        this.reported = event.reason === 'paused' ? { ...stop, reason: 'interrupt' } : stop;
      } else if (event.reason !== 'paused') {
        this.queued.push(stop);
      }
      this.finishIfAllParked();
    } else if (event.reason !== 'paused') {
      this.queued.push(stop); // raced with the stop that was reported
    }
  }

  /** Whether silent resumes have run SILENT_BURST_MS without a turn of the event loop. */
  private yieldDue(): boolean {
    const now = performance.now();
    if (this.burstStart === undefined) {
      this.burstStart = now;
      setImmediate(() => (this.burstStart = undefined));
      return false;
    }
    return now - this.burstStart >= SILENT_BURST_MS;
  }

  private onVcpuStarted(vcpu: number): void {
    this.running.add(vcpu);
    // Sent its SIPI before the stop: it joins the stop.
    if (this.phase !== 'running') this.vmm.pause(vcpu);
  }

  private finishIfAllParked(): void {
    if (this.phase !== 'stopping' || this.running.size > 0) return;
    if (this.silentStop && this.yieldDue()) {
      // Still stopping: a Ctrl-C read meanwhile turns this into its stop.
      setImmediate(() => this.finishIfAllParked());
      return;
    }
    this.phase = 'stopped';
    if (this.silentStop) {
      this.silentStop = false;
      const hit = this.silentHit;
      this.silentHit = undefined;
      this.startResume(this.lastActions, hit);
      return;
    }
    const stop = this.reported!;
    if (stop.reason === 'interrupt' && stop.rip === 0n) stop.rip = this.rip(stop.vcpu);
    this.emit('stopped', stop);
  }
}
