import type { MonitorCommand } from './monitor_command';

/** `help`: every command with its one line (given lazily: the table holds help too). */
export function helpCommand(commands: () => readonly MonitorCommand[]): MonitorCommand {
  return {
    name: 'help',
    usage: '',
    summary: 'list the monitor commands',
    run: (_context, _args, print) => {
      const all = commands();
      const heads = all.map((c) => `${c.name} ${c.usage}`.trimEnd());
      const width = Math.max(...heads.map((h) => h.length)) + 2;
      print('vmm-gdbstub monitor commands:');
      all.forEach((c, i) => print(`  ${heads[i]!.padEnd(width)}${c.summary}`));
    },
  };
}
