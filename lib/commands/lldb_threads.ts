import type { Debugger } from '../debugger/debugger';
import { threadIdOf } from './thread_id';
import type { Command, CommandContext } from './types';

/** A vCPU's name as lldb's `thread list` shows it. */
export function threadName(vcpu: number): string {
  return `vCPU ${vcpu}`;
}

/** A stopped vCPU's rip; undefined while it runs or when it cannot be read. */
export function ripOf(dbg: Debugger, vcpu: number): bigint | undefined {
  if (dbg.vmm.vcpuState(vcpu) === 'running') return undefined;
  try {
    return dbg.registers(vcpu).rip;
  } catch {
    return undefined;
  }
}

/**
 * What QListThreadsInStopReply adds to a stop reply: `threads:` (every
 * vCPU's thread id) and `thread-pcs:` (their rips as hex numbers, in the
 * same order), so that lldb asks neither qfThreadInfo nor each pc after a
 * stop. No thread-pcs when a rip cannot be read.
 */
export function threadsInStopReply(dbg: Debugger): string {
  const vcpus = dbg.vcpus();
  const threads = `threads:${vcpus.map(threadIdOf).join(',')};`;
  const pcs = vcpus.map((vcpu) => ripOf(dbg, vcpu));
  if (pcs.some((pc) => pc === undefined)) return threads;
  return `${threads}thread-pcs:${pcs.map((pc) => pc!.toString(16)).join(',')};`;
}

/** A T stop reply with the thread list appended, once lldb asked for it; others as they are. */
export function withThreadList(reply: string, { debugger: dbg, session }: CommandContext): string {
  if (session.listThreadsInStopReply !== true || !reply.startsWith('T')) return reply;
  return reply + threadsInStopReply(dbg);
}

/** `QListThreadsInStopReply`: from now on T replies list every thread (withThreadList). */
export const listThreadsInStopReply: Command<true> = {
  prefix: 'QListThreadsInStopReply',
  parse: (body) => (body === '' ? true : undefined),
  handle: ({ session }) => {
    session.listThreadsInStopReply = true;
    return 'OK';
  },
};
