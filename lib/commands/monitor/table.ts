import { gla2gpa } from './gla2gpa';
import { helpCommand } from './help';
import { infoBreakpoints } from './info_breakpoints';
import { infoVcpus } from './info_vcpus';
import { logRsp } from './log_rsp';
import type { MonitorCommand } from './monitor_command';
import { pause, resume } from './pause';
import { phys } from './phys';

/** Every monitor command, in the order help lists them. Adding one is a file and a line here. */
export const MONITOR_COMMANDS: readonly MonitorCommand[] = [
  helpCommand(() => MONITOR_COMMANDS),
  infoVcpus,
  infoBreakpoints,
  phys,
  gla2gpa,
  pause,
  resume,
  logRsp,
];

/** The command whose name is the longest run of leading words, and the words after it. */
export function findMonitorCommand(
  commands: readonly MonitorCommand[],
  words: readonly string[],
): { command: MonitorCommand; args: string[] } | undefined {
  let best: { command: MonitorCommand; args: string[] } | undefined;
  let bestLength = 0;
  for (const command of commands) {
    const name = command.name.split(' ');
    if (name.length <= bestLength || !name.every((word, i) => words[i] === word)) continue;
    best = { command, args: words.slice(name.length) };
    bestLength = name.length;
  }
  return best;
}
