import type { Debugger } from '../debugger/debugger';
import { NO_SUCH_ANNEX, parseXferRead, xferReply, xmlEscape, type XferRead } from './qxfer';
import { threadIdOf } from './thread_id';
import type { Command } from './types';

/** A vCPU's state in words: running, parked (and held by monitor pause), waiting for SIPI, exited. */
export function vcpuStateText(dbg: Debugger, vcpu: number): string {
  const state = dbg.vmm.vcpuState(vcpu);
  const dead = dbg.deadReason(vcpu);
  if (dead !== undefined) return `stopped for good: ${dead}`;
  if (state === 'waiting-for-sipi') return 'waiting for SIPI';
  if (dbg.isHeld(vcpu)) return `${state}, held by monitor pause`;
  return state;
}

/** The thread list: one `<thread>` per vCPU, its name `vCPU n`, its core n, its state as text. */
export function threadsXml(dbg: Debugger): Buffer {
  const threads = dbg.vcpus().map((vcpu) => {
    const state = xmlEscape(vcpuStateText(dbg, vcpu));
    return `  <thread id="${threadIdOf(vcpu)}" core="${vcpu}" name="vCPU ${vcpu}">${state}</thread>\n`;
  });
  return Buffer.from(`<?xml version="1.0"?>\n<threads>\n${threads.join('')}</threads>\n`);
}

/**
 * `qXfer:threads:read::<offset>,<length>`: the thread list, in parts. It is
 * built afresh for each part; the guest is stopped while gdb reads it, so
 * the parts agree.
 */
export const qXferThreadsRead: Command<XferRead> = {
  prefix: 'qXfer:threads:read:',
  parse: parseXferRead,
  handle: ({ debugger: dbg, session }, request) => {
    if (request.annex !== '') return NO_SUCH_ANNEX;
    return xferReply(threadsXml(dbg), request, session.packetSize);
  },
};
