import { parseThreadId } from './thread_id';
import { Errors, type Command } from './types';

/** `Hg<tid>` / `Hc<tid>`: the thread later packets act on. */
export const h: Command<{ op: 'g' | 'c'; vcpu: number }> = {
  prefix: 'H',
  parse: (body) => {
    const op = body[0];
    if (op !== 'g' && op !== 'c') return undefined;
    const vcpu = parseThreadId(body.slice(1));
    return vcpu === undefined ? undefined : { op, vcpu };
  },
  handle: ({ debugger: dbg, session }, { op, vcpu }) => {
    if (vcpu >= dbg.vmm.vcpuCount) return Errors.noThread;
    if (op === 'g') {
      // "all" and "any" mean the thread that stopped, for register access.
      session.generalVcpu = vcpu >= 0 ? vcpu : (dbg.lastStop?.vcpu ?? session.generalVcpu);
    } else {
      session.continueVcpu = vcpu >= 0 ? vcpu : -1;
    }
    return 'OK';
  },
};
