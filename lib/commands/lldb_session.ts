import { hexEncode } from '../rsp/hex';
import type { Command } from './types';

/*
 * The packets lldb (14) sends while it connects that gdb does not, with the
 * reply each gets here:
 *   QThreadSuffixSupported   OK      (thread_suffix.ts: g, G, p, P take ;thread:N;)
 *   QListThreadsInStopReply  OK      T replies list threads: and thread-pcs: (lldb_threads.ts)
 *   qHostInfo                triple, ptrsize, endian, ...
 *   qProcessInfo             pid 1 (the VM is the one process), triple, ...
 *   QEnableErrorStrings      OK      (E replies may carry text; ours carry none)
 *   qWatchpointSupportInfo:  num:N;  N data debug slots when the vmm has them, else ''
 *   qRegisterInfo<n>         q_register_info.ts (lldb 14 reads target.xml instead)
 *   qMemoryRegionInfo:<addr> q_memory_region_info.ts
 *   jThreadsInfo             j_threads_info.ts
 * Left to the dispatcher's empty reply (unsupported), on purpose; lldb copes:
 *   qVAttachOrWaitSupported, jThreadExtendedInfo:, jGetLoadedDynamicLibrariesInfos:,
 *   qStructuredDataPlugins, qThreadStopInfo<tid> (jThreadsInfo answers it),
 *   QSaveRegisterState / QRestoreRegisterState (lldb uses g/G),
 *   qShlibInfoAddr, qGetWorkingDir, qPlatform_*, vFile:*
 */

/**
 * The guest is a bare machine: no OS lldb knows, no vendor. lldb 14 takes
 * `x86_64-unknown-unknown` together with the kernel's ELF (whatever its
 * OS/ABI byte says) and picks no dynamic loader that would look for one.
 */
export const GUEST_TRIPLE = 'x86_64-unknown-unknown';

function describeMachine(): string {
  return [
    `triple:${hexEncode(GUEST_TRIPLE)}`,
    'ptrsize:8',
    'endian:little',
    'ostype:unknown',
    'vendor:unknown',
  ].join(';');
}

/** `qHostInfo`: the machine the guest runs on, as lldb describes a host. */
export const qHostInfo: Command<true> = {
  prefix: 'qHostInfo',
  parse: (body) => (body === '' ? true : undefined),
  // x86 debug registers report a data breakpoint after the access.
  handle: () => `${describeMachine()};watchpoint_exceptions_received:after;`,
};

/** `qProcessInfo`: the whole VM is process 1 (the seed's pid). */
export const qProcessInfo: Command<true> = {
  prefix: 'qProcessInfo',
  parse: (body) => (body === '' ? true : undefined),
  handle: () => `pid:1;${describeMachine()};`,
};

/** `QEnableErrorStrings`: allowed; our E replies stay bare numbers, which lldb also reads. */
export const enableErrorStrings: Command<true> = {
  prefix: 'QEnableErrorStrings',
  parse: (body) => (body === '' ? true : undefined),
  handle: () => 'OK',
};

/**
 * `qWatchpointSupportInfo:` (lldb's form; bare `qWatchpointSupportInfo` is the
 * same question): how many watchpoints, when the vmm has data debug slots
 * (the optional `watchpoints` of the Vmm contract). Otherwise the empty
 * reply, and lldb's `watchpoint set` fails with its own message.
 */
export const qWatchpointSupportInfo: Command<true> = {
  prefix: 'qWatchpointSupportInfo',
  parse: (body) => (body === '' || body === ':' ? true : undefined),
  handle: ({ debugger: dbg }) => {
    const slots = dbg.vmm.watchpoints;
    return slots === undefined ? '' : `num:${slots.count};`;
  },
};
