import type { ResumeAction } from '../debugger/debugger';
import type { StepRange } from '../vmm/vmm';
import { ALL_THREADS, ANY_THREAD, parseThreadId } from './thread_id';
import { withThreadList } from './lldb_threads';
import { refuseResume } from './c';
import { reportStop } from './stop_reply';
import { Errors, type Command } from './types';

/** One vCont action: c, C, s, S, t or r, for one thread or (no thread) every other one. */
export interface VContAction {
  action: 'c' | 's' | 't' | 'r';
  /** `r`: the range to step in, [start, end). */
  range?: StepRange;
  /** A vCPU, ALL_THREADS, ANY_THREAD, or undefined for no thread-id. */
  vcpu?: number;
}

/** `vCont?`: the actions vCont takes. */
export const vContQuery: Command<true> = {
  prefix: 'vCont?',
  parse: (body) => (body === '' ? true : undefined),
  handle: () => 'vCont;c;C;s;S;t;r',
};

function toResumeAction(action: 'c' | 's' | 'r', range: StepRange | undefined): ResumeAction {
  if (action === 'c') return 'continue';
  return action === 'r' && range !== undefined ? range : 'step';
}

/** At most 16 hex digits, so a value fits 64 bits (a longer one is malformed). */
const RANGE_ACTION = /^r([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,16})(?::(.+))?$/;

/**
 * `vCont;action[:tid]...`: for each vCPU the leftmost action whose thread-id
 * matches applies (no thread-id matches every vCPU); vCPUs no action matches
 * stay stopped (all-stop). So `vCont;s:2;c` steps thread 2 and runs the rest,
 * and the first stop of any is the one reported, as gdb expects. C and S
 * ignore their signal (a VM has none); `t` keeps a vCPU stopped.
 */
export const vCont: Command<VContAction[]> = {
  prefix: 'vCont;',
  parse: (body) => {
    const actions: VContAction[] = [];
    for (const item of body.split(';')) {
      const range = RANGE_ACTION.exec(item);
      if (range !== null) {
        const start = BigInt('0x' + range[1]!);
        const end = BigInt('0x' + range[2]!);
        if (start > end) return undefined;
        const vcpu = range[3] === undefined ? undefined : parseThreadId(range[3]);
        if (range[3] !== undefined && vcpu === undefined) return undefined;
        actions.push(
          vcpu === undefined
            ? { action: 'r', range: { start, end } }
            : { action: 'r', range: { start, end }, vcpu },
        );
        continue;
      }
      const match = /^([cCsSt])([0-9a-fA-F]{2})?(?::(.+))?$/.exec(item);
      if (match === null) return undefined;
      const letter = match[1]!;
      const withSignal = letter === 'C' || letter === 'S';
      if (withSignal !== (match[2] !== undefined)) return undefined;
      const action = letter.toLowerCase() as VContAction['action'];
      if (match[3] === undefined) {
        actions.push({ action });
        continue;
      }
      const vcpu = parseThreadId(match[3]);
      if (vcpu === undefined) return undefined;
      actions.push({ action, vcpu });
    }
    return actions.length > 0 ? actions : undefined;
  },
  handle: async (context, actions) => {
    const { debugger: dbg, session } = context;
    const plan = new Map<number, ResumeAction>();
    for (const vcpu of dbg.vcpus()) {
      for (const { action, vcpu: target, range } of actions) {
        let matches = target === undefined || target === ALL_THREADS || target === vcpu;
        // "Any thread": the current one.
        if (target === ANY_THREAD) matches = vcpu === session.generalVcpu;
        if (!matches) continue;
        if (action !== 't') plan.set(vcpu, toResumeAction(action, range));
        break;
      }
    }
    for (const { vcpu } of actions) {
      if (vcpu !== undefined && vcpu >= dbg.vmm.vcpuCount) return Errors.noThread;
    }
    // A step names its vCPU; so does a continue with a thread-id.
    const named = [...plan].filter(([vcpu, action]) =>
      actions.some((a) => a.vcpu === vcpu && (action !== 'continue' || a.action === 'c')),
    );
    const refused = refuseResume(
      context,
      named.map(([vcpu]) => vcpu),
    );
    if (refused !== undefined) return refused;
    if (plan.size === 0) {
      // Only t actions: every vCPU is already stopped; report where they are.
      return withThreadList(reportStop(session, await dbg.interrupt(), dbg), context);
    }
    return withThreadList(reportStop(session, await dbg.resume(plan), dbg), context);
  },
};
