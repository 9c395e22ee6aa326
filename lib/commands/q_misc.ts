import { Errors, type Command } from './types';

/*
 * The packets gdb sends while it connects, with the reply each gets here.
 * Answered by the commands below:
 *   vMustReplyEmpty  ''        gdb checks that unknown packets get the empty reply
 *   qOffsets         Text=0;Data=0;Bss=0  the kernel runs where it was linked
 *   qSymbol::        OK        we never ask gdb for a symbol's address
 *   QNonStop:0 / :1  OK / E16  all-stop only
 *   QThreadEvents:n  OK        vCPUs neither appear nor vanish: no event to send
 * Left to the dispatcher's empty reply (unsupported), on purpose:
 *   qTStatus, qTfV, qTsV, qTfP, qTsP  no tracepoints; gdb reads '' as "no trace running"
 *   QPassSignals, QProgramSignals     a VM has no Unix signals to pass (not offered)
 *   QDisableRandomization             we never start a program (no extended-remote)
 *   QCatchSyscalls                    no syscalls to catch below a guest kernel
 *   !, vRun, vAttach, vKill           no extended-remote mode
 *   qCRC                              gdb verifies sections by reading memory instead
 * Elsewhere: qSupported, qAttached (1), QStartNoAckMode in session.ts;
 * qC, qfThreadInfo, qsThreadInfo, qThreadExtraInfo and T in threads.ts.
 */

/** `vMustReplyEmpty`: always the empty reply, whatever v-packets the table gains. */
export const vMustReplyEmpty: Command<true> = {
  prefix: 'vMustReplyEmpty',
  parse: (body) => (body === '' ? true : undefined),
  handle: () => '',
};

/** `qOffsets`: the image is loaded at its link addresses, so nothing moves. */
export const qOffsets: Command<true> = {
  prefix: 'qOffsets',
  parse: (body) => (body === '' ? true : undefined),
  handle: () => 'Text=0;Data=0;Bss=0',
};

/** `qSymbol::` (gdb can look symbols up) or `qSymbol:<value>:<name>`: nothing to ask. */
export const qSymbol: Command<true> = {
  prefix: 'qSymbol:',
  parse: (body) => (body.includes(':') ? true : undefined),
  handle: () => 'OK',
};

/** `QNonStop:0|1`: all-stop is the only mode (every stop stops every vCPU). */
export const nonStop: Command<boolean> = {
  prefix: 'QNonStop:',
  parse: (body) => (body === '0' ? false : body === '1' ? true : undefined),
  handle: (_context, on) => (on ? Errors.invalid : 'OK'),
};

/** `QThreadEvents:0|1`: honoured trivially, the thread list is fixed at boot. */
export const threadEvents: Command<true> = {
  prefix: 'QThreadEvents:',
  parse: (body) => (body === '0' || body === '1' ? true : undefined),
  handle: () => 'OK',
};
