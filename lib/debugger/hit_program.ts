import type { RegisterFile } from '../vmm/registers';

/** What a breakpoint's program sees at a hit: the vCPU that hit it, parked. */
export interface HitContext {
  readonly vcpu: number;
  /** The hit vCPU's registers. */
  registers(): RegisterFile;
  /** Guest memory as the debugger reads it for this vCPU (breakpoints hidden); undefined unless all readable. */
  readMemory(address: bigint, length: number): Buffer | undefined;
}

/** What the program decided at one hit. */
export interface HitVerdict {
  /** Report the stop to the client; otherwise the vCPU goes on as if nothing happened. */
  stop: boolean;
  /** Text for the client's console (printf output; why an evaluation failed); '' for none. */
  output: string;
  /** Expressions evaluated for this hit. */
  evaluations: number;
}

/**
 * Conditions and commands evaluated by the stub itself when a breakpoint is
 * hit (gdb's agent expressions), so a false condition or a dprintf costs no
 * round trip to the client. Built by the commands layer; the debugger only
 * runs it.
 */
export interface HitProgram {
  run(context: HitContext): HitVerdict;
  /** Lines for `monitor info breakpoints`: each condition and command. */
  describe(): string[];
}

/** A breakpoint that has a program, and what it did this session. */
export interface ProgramBreakpoint {
  kind: 'software' | 'hardware';
  /** The address gdb asked for. */
  address: bigint;
  /** False once gdb removed it (gdb removes and re-inserts breakpoints around stops). */
  inserted: boolean;
  program: HitProgram;
  /** Times a vCPU hit it. */
  hits: number;
  /** Expressions evaluated over those hits. */
  evaluations: number;
  /** Hits reported to the client. */
  stops: number;
}
