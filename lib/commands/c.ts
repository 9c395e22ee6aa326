import { hexEncode, parseHexBigInt } from '../rsp/hex';
import type { CommandContext } from './types';
import { threadIdOf } from './thread_id';
import { DEAD_SIGNAL, GUEST_END_REPLY, reportStop } from './stop_reply';
import { Errors, type Command } from './types';

export interface ResumeRequest {
  address?: bigint;
}

/**
 * Parses `[addr]` (c, s) or `sig[;addr]` (C, S). A VM has no signals: the
 * signal is read and ignored, so `C`/`S` behave as `c`/`s`.
 */
export function parseResume(body: string, withSignal: boolean): ResumeRequest | undefined {
  let rest = body;
  if (withSignal) {
    if (!/^[0-9a-fA-F]{2}/.test(rest)) return undefined;
    rest = rest.slice(2);
    if (rest === '') return {};
    // `;addr`: the address must follow (`C05;` is malformed).
    if (!rest.startsWith(';')) return undefined;
    rest = rest.slice(1);
    if (rest === '') return undefined;
  }
  if (rest === '') return {};
  const address = parseHexBigInt(rest);
  return address === undefined ? undefined : { address };
}

/** The vCPU that c and s act on: Hc's, or Hg's when Hc said "all" or "any". */
export function resumeVcpu({ session }: CommandContext): number {
  return session.continueVcpu >= 0 ? session.continueVcpu : session.generalVcpu;
}

/** Moves the resumed vCPU to `address` first; false when its registers cannot be set. */
export function setResumeAddress(context: CommandContext, vcpu: number, address?: bigint): boolean {
  if (address === undefined) return true;
  try {
    const regs = context.debugger.registers(vcpu);
    regs.rip = address;
    context.debugger.setRegisters(vcpu, regs);
    return true;
  } catch {
    return false;
  }
}

/**
 * The reply to a resume that cannot be done, or undefined when it can: a
 * vCPU asked to step that cannot run (waiting for SIPI, stopped for good) is
 * an error, named in an `O` line; a guest that ended (`W00`) or none of whose
 * vCPUs can ever run again (`X0b`) gets its exit reply again.
 */
export function refuseResume(context: CommandContext, stepped: number[]): string | undefined {
  const { debugger: dbg, session } = context;
  if (dbg.guestEnded() !== undefined) return GUEST_END_REPLY;
  for (const vcpu of stepped) {
    const why = dbg.cannotRun(vcpu);
    if (why === undefined) continue;
    const line = `vmm-gdbstub: thread ${threadIdOf(vcpu)} (vCPU ${vcpu}) cannot run: ${why}\n`;
    session.sendEarly?.('O' + hexEncode(line));
    return Errors.cannotRun;
  }
  if (dbg.vcpus().every((vcpu) => dbg.deadReason(vcpu) !== undefined)) return `X${DEAD_SIGNAL}`;
  return undefined;
}

async function handleContinue(context: CommandContext, { address }: ResumeRequest) {
  const vcpu = resumeVcpu(context);
  const refused = refuseResume(context, address === undefined ? [] : [vcpu]);
  if (refused !== undefined) return refused;
  if (!setResumeAddress(context, vcpu, address)) return Errors.invalid;
  return reportStop(context.session, await context.debugger.continue(), context.debugger);
}

/** `c [addr]`: resume every vCPU; the reply is the next stop. */
export const c: Command<ResumeRequest> = {
  prefix: 'c',
  parse: (body) => parseResume(body, false),
  handle: handleContinue,
};

/** `C sig[;addr]`: as c; the signal is ignored. */
export const continueWithSignal: Command<ResumeRequest> = {
  prefix: 'C',
  parse: (body) => parseResume(body, true),
  handle: handleContinue,
};
