import { c, continueWithSignal } from './c';
import { g, G } from './g';
import { jThreadsInfo } from './j_threads_info';
import {
  enableErrorStrings,
  qHostInfo,
  qProcessInfo,
  qWatchpointSupportInfo,
} from './lldb_session';
import { listThreadsInStopReply } from './lldb_threads';
import { qMemoryRegionInfo } from './q_memory_region_info';
import { qRegisterInfo } from './q_register_info';
import { threadSuffixSupported, withThreadSuffix } from './thread_suffix';
import { h } from './h';
import { m, M } from './m';
import { s, stepWithSignal } from './s';
import { qSearchMemory } from './search';
import { tBackward } from './t_backward';
import { vCont, vContQuery } from './vcont';
import { x, X } from './x';
import { insertBreakpoint, removeBreakpoint } from './z';
import { p, P } from './p';
import { nonStop, qOffsets, qSymbol, threadEvents, vMustReplyEmpty } from './q_misc';
import { qXferFeaturesRead } from './qxfer_features';
import { qXferMemoryMapRead } from './qxfer_memory_map';
import { qXferThreadsRead } from './qxfer_threads';
import { qRcmd } from './qrcmd';
import { question } from './question';
import { detach, kill, qAttached, qSupported, startNoAckMode } from './session';
import { qC, qfThreadInfo, qsThreadInfo, qThreadExtraInfo, t } from './threads';
import { Errors, type Command, type CommandContext, type Reply } from './types';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCommand = Command<any>;

/** Every packet we answer. Adding a packet is one file and one line here. */
const COMMANDS: AnyCommand[] = [
  question,
  withThreadSuffix(g),
  withThreadSuffix(G),
  withThreadSuffix(p),
  withThreadSuffix(P),
  qXferFeaturesRead,
  qXferThreadsRead,
  qXferMemoryMapRead,
  qRcmd,
  vMustReplyEmpty,
  qOffsets,
  qSymbol,
  nonStop,
  threadEvents,
  m,
  M,
  x,
  X,
  insertBreakpoint,
  removeBreakpoint,
  c,
  continueWithSignal,
  s,
  stepWithSignal,
  vContQuery,
  vCont,
  qSearchMemory,
  tBackward,
  h,
  t,
  qSupported(() => COMMANDS),
  startNoAckMode,
  qAttached,
  qC,
  qfThreadInfo,
  qsThreadInfo,
  qThreadExtraInfo,
  detach,
  kill,
  threadSuffixSupported,
  listThreadsInStopReply,
  enableErrorStrings,
  qHostInfo,
  qProcessInfo,
  qRegisterInfo,
  qMemoryRegionInfo,
  qWatchpointSupportInfo,
  jThreadsInfo,
];

// Longest prefix first, so that qC does not catch qfThreadInfo's neighbours.
const BY_PREFIX = [...COMMANDS].sort((a, b) => b.prefix.length - a.prefix.length);

function lookup(packet: string): AnyCommand | undefined {
  for (const command of BY_PREFIX) {
    if (!packet.startsWith(command.prefix)) continue;
    // A q/Q packet's name ends at ':' , ',' or ';' (or the end): qC must not match qCRC.
    if (command.prefix.startsWith('q') || command.prefix.startsWith('Q')) {
      const next = packet[command.prefix.length];
      const named = /[,:;]$/.test(command.prefix) || command.argumentFollows === true;
      if (!named && next !== undefined && next !== ':' && next !== ',' && next !== ';') continue;
    }
    return command;
  }
  return undefined;
}

export interface DispatchResult {
  reply: Reply;
  /** Set when the packet was malformed or unknown: a line for the log. */
  note?: string;
}

/** Parses and handles one packet. Unknown packets get the empty reply. */
export async function dispatch(context: CommandContext, payload: Buffer): Promise<DispatchResult> {
  const packet = payload.toString('latin1');
  const command = lookup(packet);
  if (command === undefined)
    return { reply: '', note: `unsupported packet ${packet.slice(0, 40)}` };
  const request = command.parse(packet.slice(command.prefix.length));
  if (request === undefined) {
    return {
      reply: Errors.invalid,
      note: `malformed ${command.prefix} packet: ${packet.slice(0, 60)}`,
    };
  }
  try {
    return { reply: await command.handle(context, request) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { reply: Errors.fault, note: `${command.prefix} failed: ${message}` };
  }
}
