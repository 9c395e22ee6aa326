import { hex, type MonitorCommand } from './monitor_command';

/**
 * `info breakpoints`: the int3s in guest memory, where gdb asked for them and
 * what they hide; then the breakpoints whose conditions and commands the stub
 * evaluates, with what they did this session.
 */
export const infoBreakpoints: MonitorCommand = {
  name: 'info breakpoints',
  usage: '',
  summary: 'software breakpoints inserted; conditions and commands with their hit counts',
  run: ({ debugger: dbg }, _args, print) => {
    const breakpoints = dbg.softwareBreakpoints();
    if (breakpoints.length === 0) {
      print('no software breakpoints are inserted');
      print(
        '(gdb inserts them only while the guest runs, unless `set breakpoint always-inserted on`)',
      );
    } else {
      print(`${breakpoints.length} software breakpoint(s) (int3), by guest-physical address:`);
      for (const { gpa, shadow, intact, requested } of breakpoints) {
        let asked = '';
        if (requested?.space === 'virtual') asked = `GVA ${hex(requested.address)} -> `;
        else if (requested?.space === 'physical') asked = '(phys mode) ';
        const overwritten = intact ? '' : ' (the guest has written over the int3)';
        const byte = shadow.toString(16).padStart(2, '0');
        print(`  ${asked}GPA ${hex(gpa)}, shadow byte 0x${byte}${overwritten}`);
      }
    }
    const programs = dbg.programBreakpoints();
    if (programs.length === 0) return;
    print(`${programs.length} breakpoint(s) with conditions or commands evaluated by the stub:`);
    for (const bp of programs) {
      const kind = bp.kind === 'software' ? 'Z0' : 'Z1';
      const state = bp.inserted ? 'inserted' : 'removed';
      print(
        `  ${kind} ${hex(bp.address)} (${state}): ${bp.hits} hits, ${bp.evaluations} evaluations, ${bp.stops} stops`,
      );
      for (const line of bp.program.describe()) print(`    ${line}`);
    }
  },
};
