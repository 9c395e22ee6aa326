import { EventEmitter } from 'node:events';
import type { StopEvent, Vmm } from '../vmm/vmm';
import type { RegisterFile } from '../vmm/registers';
import { readVirtual } from './guest_memory';

/** A stop as the debugger reports it: the vCPU that stopped and why. */
export interface Stop {
  vcpu: number;
  /** 'interrupt' for a stop the debugger asked for (Ctrl-C, attach). */
  reason: StopEvent['reason'] | 'interrupt';
  rip: bigint;
  message?: string;
}

interface DebuggerEvents {
  /** Every vCPU is parked; `stop` is the one to report. */
  stopped: [Stop];
}

/**
 * The all-stop engine. A stop on one vCPU stops all before it is reported;
 * the reported vCPU is the one that stopped first; stops other vCPUs hit
 * meanwhile are queued and reported on the next resume instead of running.
 */
export class Debugger extends EventEmitter<DebuggerEvents> {
  private phase: 'running' | 'stopping' | 'stopped' = 'stopped';
  private reported: Stop | undefined;
  private readonly queued: Stop[] = [];
  /**
   * vCPUs whose stop event has not arrived yet. Kept from events, not from
   * the native state, so that a stop still on its way is never lost.
   */
  private readonly running = new Set<number>();

  constructor(readonly vmm: Vmm) {
    super();
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
    if (this.phase === 'running') {
      this.beginStopping({ vcpu: 0, reason: 'interrupt', rip: 0n });
    }
    return stopped;
  }

  /** Resumes every vCPU; resolves when the guest next stops. */
  continue(): Promise<Stop> {
    if (this.phase !== 'stopped') return this.nextStop();
    const stopped = this.nextStop();
    const pending = this.queued.shift();
    if (pending !== undefined) {
      this.reported = pending;
      queueMicrotask(() => this.emit('stopped', pending));
      return stopped;
    }
    this.phase = 'running';
    this.reported = undefined;
    this.resumeParked();
    return stopped;
  }

  /** Resumes every vCPU and forgets the debugger was there (detach). */
  detach(): void {
    this.queued.length = 0;
    this.reported = undefined;
    this.phase = 'running';
    this.resumeParked();
  }

  private resumeParked(): void {
    for (const vcpu of this.vcpus()) {
      if (this.vmm.vcpuState(vcpu) === 'parked') {
        this.vmm.resume(vcpu);
        this.running.add(vcpu);
      }
    }
  }

  registers(vcpu: number): RegisterFile {
    return this.vmm.getRegisters(vcpu);
  }

  /** Reads guest-virtual memory as vCPU `vcpu` sees it: the readable prefix. */
  readMemory(vcpu: number, address: bigint, length: number): Buffer {
    return readVirtual(this.vmm, vcpu, address, length);
  }

  private rip(vcpu: number): bigint {
    return this.vmm.vcpuState(vcpu) === 'running' ? 0n : this.vmm.getRegisters(vcpu).rip;
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

  private onVcpuStop(event: StopEvent): void {
    this.running.delete(event.vcpu);
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
