import { hexEncode } from '../rsp/hex';
import { MONITOR_COMMANDS, findMonitorCommand } from './monitor/table';
import { MonitorError } from './monitor/monitor_command';
import type { Command, CommandContext, Reply, Session } from './types';

/**
 * The reply to a monitor command that failed on a bug (an exception that is
 * not a MonitorError), after the O line that says so. gdb 13 then adds
 * "Protocol error with Rcmd", as it does for any E reply to qRcmd.
 */
export const MONITOR_FAILED = 'E01';

/** Raw console bytes per `O` packet: two hex digits a byte, the `O` and the framing must fit. */
function bytesPerPacket(session: Session): number {
  return Math.max(1, Math.floor((session.packetSize - 5) / 2));
}

/**
 * Sends console text as `O` packets ahead of the reply. Without a way to
 * send early (a session the stub did not wire), the text becomes the reply
 * itself, hex-encoded: the protocol allows it for qRcmd and gdb prints it.
 */
function finish(session: Session, text: string, ok: boolean): Reply {
  const data = Buffer.from(text, 'utf8');
  if (session.sendEarly === undefined) {
    if (!ok) return MONITOR_FAILED;
    return data.length > 0 ? hexEncode(data) : 'OK';
  }
  const step = bytesPerPacket(session);
  for (let at = 0; at < data.length; at += step) {
    session.sendEarly('O' + hexEncode(data.subarray(at, at + step)));
  }
  return ok ? 'OK' : MONITOR_FAILED;
}

async function runMonitor(context: CommandContext, text: string): Promise<Reply> {
  const words = text.split(/\s+/).filter((w) => w !== '');
  const lines: string[] = [];
  const print = (line: string) => {
    lines.push(line);
  };
  // A user's mistake (a MonitorError) is answered by its line and OK: an E
  // reply would make gdb add "Protocol error with Rcmd" under it.
  let ok = true;
  try {
    const found = findMonitorCommand(MONITOR_COMMANDS, words.length > 0 ? words : ['help']);
    if (found === undefined) {
      throw new MonitorError(`unknown monitor command "${words.join(' ')}"; try "monitor help"`);
    }
    await found.command.run(context, found.args, print);
  } catch (error) {
    if (error instanceof MonitorError) {
      print(error.message);
    } else {
      ok = false;
      print(`monitor command failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return finish(context.session, lines.map((line) => line + '\n').join(''), ok);
}

/**
 * `qRcmd,<hex text>` (gdb's `monitor`): runs a monitor command. Its output
 * goes out as `O` packets, then `OK`; a mistake (unknown command, bad
 * argument) prints why and replies OK too; only a bug replies E.
 */
export const qRcmd: Command<string> = {
  prefix: 'qRcmd,',
  parse: (body) =>
    /^(?:[0-9a-fA-F]{2})*$/.test(body) ? Buffer.from(body, 'hex').toString('utf8') : undefined,
  handle: runMonitor,
};
