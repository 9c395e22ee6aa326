import { EventEmitter } from 'node:events';
import type { StopEvent, Vmm } from '../vmm/vmm';
import { Access } from '../vmm/vmm';
import type { RegisterFile } from '../vmm/registers';
import { BreakpointTable, INT3 } from './breakpoints';
import { readVirtual, translateRange } from './guest_memory';

/** A stop as the debugger reports it: the vCPU that stopped and why. */
export interface Stop {
  vcpu: number;
  /** 'interrupt' for a stop the debugger asked for (Ctrl-C, attach). */
  reason: StopEvent['reason'] | 'interrupt';
  rip: bigint;
  message?: string;
}

/** What one vCPU does on a resume; vCPUs without an action stay stopped. */
export type ResumeAction = 'continue' | 'step';

interface DebuggerEvents {
  /** Every vCPU is parked; `stop` is the one to report. */
  stopped: [Stop];
}

/** The #BP vector, delivered to the guest for an int3 that is not ours. */
const VECTOR_BP = 3;

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
  /** A step over a breakpoint in progress: its vCPU's next stop goes here. */
  private internalStep: { vcpu: number; done: (event: StopEvent) => void } | undefined;
  private interruptWhileResuming = false;
  /** Bumped by detach: a resume still stepping over breakpoints then gives up. */
  private epoch = 0;

  constructor(readonly vmm: Vmm) {
    super();
    this.breakpoints = new BreakpointTable(vmm);
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
    if (this.phase === 'stopped') {
      return Promise.resolve(this.reported ?? { vcpu: 0, reason: 'interrupt', rip: this.rip(0) });
    }
    const stopped = this.nextStop();
    if (this.phase === 'resuming') this.interruptWhileResuming = true;
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
  resume(actions: Map<number, ResumeAction>): Promise<Stop> {
    if (this.phase !== 'stopped') return this.nextStop();
    const stopped = this.nextStop();
    while (this.queued.length > 0) {
      const pending = this.queued.shift()!;
      if (pending.reason === 'breakpoint' && !this.isOurBreakpoint(pending.vcpu, pending.rip)) {
        continue; // removed since it was hit: the vCPU runs the original instruction
      }
      this.reported = pending;
      queueMicrotask(() => this.emit('stopped', pending));
      return stopped;
    }
    this.reported = undefined;
    this.phase = 'resuming';
    this.interruptWhileResuming = false;
    const epoch = this.epoch;
    void this.resumeAfterStepOvers(actions).catch((error: unknown) => {
      if (epoch !== this.epoch) return;
      const message = error instanceof Error ? error.message : String(error);
      this.report({ vcpu: 0, reason: 'error', rip: 0n, message });
    });
    return stopped;
  }

  private async resumeAfterStepOvers(actions: Map<number, ResumeAction>): Promise<void> {
    const epoch = this.epoch;
    for (const [vcpu, action] of actions) {
      if (this.vmm.vcpuState(vcpu) !== 'parked') continue;
      const gpa = this.breakpointUnderRip(vcpu);
      if (gpa === undefined) continue;
      const event = await this.stepOver(vcpu, gpa);
      if (epoch !== this.epoch) return; // detached meanwhile
      if (action === 'step' || event.reason !== 'step') {
        // The step over the breakpoint was the step asked for (or it stopped for a reason of its own).
        const stop: Stop = { vcpu, reason: event.reason, rip: event.rip };
        if (event.message !== undefined) stop.message = event.message;
        this.report(stop);
        return;
      }
    }
    if (this.interruptWhileResuming) {
      this.report({ vcpu: 0, reason: 'interrupt', rip: this.rip(0) });
      return;
    }
    this.phase = 'running';
    for (const [vcpu, action] of actions) {
      if (this.vmm.vcpuState(vcpu) !== 'parked') continue;
      this.vmm.resume(vcpu, action === 'step' ? { step: true, maskInterrupts: true } : {});
      this.running.add(vcpu);
    }
    if (this.running.size === 0) {
      this.report({ vcpu: 0, reason: 'interrupt', rip: this.rip(0) }); // nothing could run
    }
  }

  /** One step of `vcpu` with the original byte at `gpa` back in place. */
  private stepOver(vcpu: number, gpa: bigint): Promise<StopEvent> {
    return new Promise<StopEvent>((resolve, reject) => {
      this.internalStep = {
        vcpu,
        done: (event) => {
          try {
            this.breakpoints.plant(gpa);
            resolve(event);
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        },
      };
      try {
        this.breakpoints.lift(gpa);
        this.vmm.resume(vcpu, { step: true, maskInterrupts: true });
      } catch (error) {
        this.internalStep = undefined;
        this.breakpoints.plant(gpa);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
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
    this.queued.length = 0;
    this.reported = undefined;
    // A step over a breakpoint in flight finishes on its own; its vCPU is resumed then.
    this.epoch++;
    this.phase = 'running';
    this.resumeParked();
  }

  /** Removes every breakpoint without resuming (kill: the VM goes away). */
  removeAllBreakpoints(): void {
    this.breakpoints.removeAll();
  }

  private resumeParked(): void {
    for (const vcpu of this.vcpus()) {
      if (this.internalStep?.vcpu === vcpu) continue;
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
  insertBreakpoint(vcpu: number, address: bigint): boolean {
    const chunk = translateRange(this.vmm, vcpu, address, 1)[0];
    if (chunk === undefined) return false;
    this.breakpoints.insert(chunk.gpa);
    return true;
  }

  /** z0: false when the address is not mapped (removing an absent one is fine). */
  removeBreakpoint(vcpu: number, address: bigint): boolean {
    const gpa = this.translate(vcpu, address);
    if (gpa === undefined) return false;
    this.breakpoints.remove(gpa);
    return true;
  }

  /** Reads guest-virtual memory as vCPU `vcpu` sees it: the readable prefix, breakpoints hidden. */
  readMemory(vcpu: number, address: bigint, length: number): Buffer {
    const parts = translateRange(this.vmm, vcpu, address, length).map((c) =>
      this.breakpoints.hide(c.gpa, this.vmm.readPhysical(Number(c.gpa), c.length)),
    );
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Writes guest-virtual memory: all or nothing; false when any page is not writable RAM. */
  writeMemory(vcpu: number, address: bigint, data: Buffer): boolean {
    const chunks = translateRange(this.vmm, vcpu, address, data.length);
    const covered = chunks.reduce((sum, c) => sum + c.length, 0);
    if (covered < data.length) return false;
    let offset = 0;
    for (const chunk of chunks) {
      this.breakpoints.writeThrough(chunk.gpa, data.subarray(offset, offset + chunk.length));
      offset += chunk.length;
    }
    return true;
  }

  /** Reads without hiding (what the guest executes); for tests and diagnostics. */
  readRaw(vcpu: number, address: bigint, length: number): Buffer {
    return readVirtual(this.vmm, vcpu, address, length);
  }

  private rip(vcpu: number): bigint {
    return this.vmm.vcpuState(vcpu) === 'running' ? 0n : this.vmm.getRegisters(vcpu).rip;
  }

  /** The breakpoint (gpa) under a parked vCPU's rip, if one of ours is there. */
  private breakpointUnderRip(vcpu: number): bigint | undefined {
    if (this.breakpoints.size === 0) return undefined;
    const gpa = this.translate(vcpu, this.vmm.getRegisters(vcpu).rip);
    return gpa !== undefined && this.breakpoints.has(gpa) ? gpa : undefined;
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

  private nextStop(): Promise<Stop> {
    return new Promise((resolve) => this.once('stopped', resolve));
  }

  private beginStopping(first: Stop): void {
    this.phase = 'stopping';
    this.reported = first;
    for (const vcpu of this.vcpus()) this.vmm.pause(vcpu);
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
    this.running.delete(original.vcpu);
    let event = original;
    if (this.handleForeignInt3(original)) {
      if (this.phase === 'running') {
        this.vmm.resume(event.vcpu);
        this.running.add(event.vcpu);
        return;
      }
      event = { ...original, reason: 'paused' }; // parked with its #BP pending
    }
    const stop: Stop = { vcpu: event.vcpu, reason: event.reason, rip: event.rip };
    if (event.message !== undefined) stop.message = event.message;
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

  private onVcpuStarted(vcpu: number): void {
    this.running.add(vcpu);
    // Sent its SIPI before the stop: it joins the stop.
    if (this.phase !== 'running') this.vmm.pause(vcpu);
  }

  private finishIfAllParked(): void {
    if (this.running.size > 0) return;
    this.phase = 'stopped';
    const stop = this.reported!;
    if (stop.reason === 'interrupt' && stop.rip === 0n) stop.rip = this.rip(stop.vcpu);
    this.emit('stopped', stop);
  }
}
