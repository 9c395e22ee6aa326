import { escapeBinary } from '../rsp/binary';
import { ripOf, threadName } from './lldb_threads';
import { expeditedRegisterMap, stopReply } from './stop_reply';
import type { Command } from './types';

interface ThreadInfo {
  tid: number;
  name: string;
  /** Only for the thread whose stop was reported: the T reply's signal (2 or 5). */
  signal?: number;
  /** lldb's words for a watchpoint stop, which a T reply says as `watch:ADDR;`. */
  reason?: string;
  description?: string;
  /** Expedited registers: decimal regnum to little-endian hex, as in a T reply. */
  registers?: Record<string, string>;
}

/** The reported thread's signal and, for a watchpoint, lldb's reason, from its T reply. */
function stopInfo(reply: string): Pick<ThreadInfo, 'signal' | 'reason' | 'description'> {
  const info: Pick<ThreadInfo, 'signal' | 'reason' | 'description'> = {
    signal: parseInt(reply.slice(1, 3), 16),
  };
  const watch = /(?:^|;)[ra]?watch:([0-9a-fA-F]+);/.exec(reply.slice(3));
  if (watch !== null) {
    info.reason = 'watchpoint';
    info.description = BigInt('0x' + watch[1]!).toString(10);
  }
  return info;
}

/**
 * `jThreadsInfo`: every vCPU as a thread, with its name, its rip, frame
 * and stack pointers (what lldb reads at every stop), and for
 * the one whose stop was reported, the stop's signal (and a watchpoint's
 * address); lldb works out the rest (a breakpoint from its own breakpoint at
 * the pc), as from a T reply.
 * JSON, escaped as binary data (`}` is the escape byte).
 */
export const jThreadsInfo: Command<true> = {
  prefix: 'jThreadsInfo',
  parse: (body) => (body === '' ? true : undefined),
  handle: ({ debugger: dbg }) => {
    // Before the guest first ran (attach with --wait) `?` reports vCPU 0 interrupted.
    const stop =
      dbg.lastStop ??
      (dbg.isStopped ? { vcpu: 0, reason: 'interrupt' as const, rip: 0n } : undefined);
    const threads = dbg.vcpus().map((vcpu) => {
      const info: ThreadInfo = { tid: vcpu + 1, name: threadName(vcpu) };
      if (stop?.vcpu === vcpu) Object.assign(info, stopInfo(stopReply(stop)));
      if (ripOf(dbg, vcpu) !== undefined) info.registers = expeditedRegisterMap(dbg, vcpu);
      return info;
    });
    return escapeBinary(Buffer.from(JSON.stringify(threads), 'utf8'));
  },
};
