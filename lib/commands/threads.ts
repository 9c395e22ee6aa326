import { parseThreadId, threadIdOf } from './thread_id';
import { Errors, type Command } from './types';
import { hexEncode } from '../rsp/hex';

/** `qfThreadInfo`: every vCPU is a thread, in one reply. */
export const qfThreadInfo: Command<true> = {
  prefix: 'qfThreadInfo',
  parse: (body) => (body === '' ? true : undefined),
  handle: ({ debugger: dbg }) => 'm' + dbg.vcpus().map(threadIdOf).join(','),
};

/** `qsThreadInfo`: the list ended with qfThreadInfo's reply. */
export const qsThreadInfo: Command<true> = {
  prefix: 'qsThreadInfo',
  parse: (body) => (body === '' ? true : undefined),
  handle: () => 'l',
};

/** `qC`: the current thread. */
export const qC: Command<true> = {
  prefix: 'qC',
  parse: (body) => (body === '' ? true : undefined),
  handle: ({ session }) => `QC${threadIdOf(session.generalVcpu)}`,
};

/** `qThreadExtraInfo,<tid>`: the vCPU's number and state, hex-encoded text. */
export const qThreadExtraInfo: Command<number> = {
  prefix: 'qThreadExtraInfo,',
  parse: (body) => {
    const vcpu = parseThreadId(body);
    return vcpu === undefined || vcpu < 0 ? undefined : vcpu;
  },
  handle: ({ debugger: dbg }, vcpu) => {
    if (vcpu >= dbg.vmm.vcpuCount) return Errors.noThread;
    const state = dbg.vmm.vcpuState(vcpu);
    const text = state === 'waiting-for-sipi' ? 'waiting for SIPI' : state;
    return hexEncode(`vCPU ${vcpu}: ${text}`);
  },
};

/** `T<tid>`: whether a thread is alive. */
export const t: Command<number> = {
  prefix: 'T',
  parse: (body) => {
    const vcpu = parseThreadId(body);
    return vcpu === undefined || vcpu < 0 ? undefined : vcpu;
  },
  handle: ({ debugger: dbg }, vcpu) => (vcpu < dbg.vmm.vcpuCount ? 'OK' : Errors.noThread),
};
