import type { Stop } from '../debugger/debugger';
import { threadIdOf } from './thread_id';

/** The T stop reply for a stop, with the reason gdb understands. */
export function stopReply(stop: Stop): string {
  const thread = `thread:${threadIdOf(stop.vcpu)};`;
  switch (stop.reason) {
    case 'interrupt':
    case 'paused':
      return `T02${thread}`;
    case 'breakpoint':
      return `T05${thread}swbreak:;`;
    case 'debug-register':
      return `T05${thread}hwbreak:;`;
    case 'shutdown':
    case 'error':
    case 'halt':
    case 'step':
      return `T05${thread}`;
  }
}
