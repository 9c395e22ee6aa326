import { endsGuest, type Debugger, type Stop } from '../debugger/debugger';
import { GDB_REGISTERS, encodeRegister } from '../arch/x86_64/gdb_registers';
import type { WatchKind } from '../debugger/hw_slots';
import { hexEncode } from '../rsp/hex';
import { threadIdOf } from './thread_id';
import type { Session } from './types';

/** gdb's stop reasons for Z2, Z3 and Z4 hits. */
const WATCH_REASONS: Record<WatchKind, string> = {
  write: 'watch',
  read: 'rwatch',
  access: 'awatch',
};

/**
 * SIGSEGV: the signal of a vCPU that stopped for good (a triple fault, an
 * exit the backend cannot continue from), in its stop reply and in the exit
 * reply (`X0b`) once no vCPU can run: gdb and lldb both show it by name.
 */
export const DEAD_SIGNAL = '0b';

/**
 * The exit reply for a guest that ended (powered off, reset, every vCPU
 * halted for good): status 0, as a process that exited normally.
 */
export const GUEST_END_REPLY = 'W00';

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
    case 'watchpoint': {
      if (stop.watch === undefined) return `T05${thread}`;
      const name = WATCH_REASONS[stop.watch.kind];
      return `T05${thread}${name}:${stop.watch.address.toString(16)};`;
    }
    case 'shutdown':
      return endsGuest(stop) ? GUEST_END_REPLY : `T${DEAD_SIGNAL}${thread}`;
    case 'error':
      return `T${DEAD_SIGNAL}${thread}`;
    case 'halt':
    case 'step':
      return `T05${thread}`;
  }
}

/**
 * The registers a stop reply carries (gdbserver's amd64 choice: the frame
 * and stack pointers and the pc), by regnum, which gdb and lldb number alike.
 */
const EXPEDITED = ['rbp', 'rsp', 'rip'].map((name) =>
  GDB_REGISTERS.findIndex((r) => r.name === name),
);

/**
 * `NN:value;` for each expedited register of a parked vCPU ('' when they
 * cannot be read): what gdb and lldb read at every stop (the pc, and the
 * stack and frame pointers to unwind the first frame), so that no `g` or
 * `p` follows a step.
 */
export function expeditedRegisters(dbg: Debugger, vcpu: number): string {
  try {
    if (dbg.vmm.vcpuState(vcpu) !== 'parked') return '';
    const regs = dbg.registers(vcpu);
    let out = '';
    for (const regnum of EXPEDITED) {
      out += `${regnum.toString(16).padStart(2, '0')}:${encodeRegister(GDB_REGISTERS[regnum]!, regs)};`;
    }
    return out;
  } catch {
    return '';
  }
}

/** The registers expedited in a stop reply and jThreadsInfo, as lldb's JSON wants them (decimal regnums). */
export function expeditedRegisterMap(dbg: Debugger, vcpu: number): Record<string, string> {
  const out: Record<string, string> = {};
  const regs = dbg.registers(vcpu);
  for (const regnum of EXPEDITED) out[regnum] = encodeRegister(GDB_REGISTERS[regnum]!, regs);
  return out;
}

/**
 * Reports a stop to the client: the T reply, and the stopped vCPU becomes the
 * general thread (Hg). gdb assumes so after every stop reply that names a
 * thread (gdbserver does the same) and reads that thread's registers with no
 * Hg first.
 */
export function reportStop(session: Session, stop: Stop, dbg?: Debugger): string {
  session.generalVcpu = stop.vcpu;
  if (endsGuest(stop)) {
    session.sendEarly?.(
      'O' + hexEncode(`vmm-gdbstub: the guest ended: ${stop.message ?? stop.end}\n`),
    );
  } else if (stop.reason === 'shutdown' || stop.reason === 'error') {
    // Said on the debugger's console, before the stop it explains.
    const why = `vCPU ${stop.vcpu} (thread ${threadIdOf(stop.vcpu)}) stopped for good: ${stop.message ?? stop.reason}; its registers stay readable\n`;
    session.sendEarly?.('O' + hexEncode(why));
  }
  const reply = stopReply(stop);
  if (dbg === undefined || !reply.startsWith('T')) return reply;
  return reply + expeditedRegisters(dbg, stop.vcpu);
}
