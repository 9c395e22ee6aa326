import { hex, type MonitorCommand } from './monitor_command';

/** `info breakpoints`: the int3s in guest memory, where gdb asked for them and what they hide. */
export const infoBreakpoints: MonitorCommand = {
  name: 'info breakpoints',
  usage: '',
  summary: 'software breakpoints inserted: address as asked, guest-physical address, shadow byte',
  run: ({ debugger: dbg }, _args, print) => {
    const breakpoints = dbg.softwareBreakpoints();
    if (breakpoints.length === 0) {
      print('no software breakpoints are inserted');
      print(
        '(gdb inserts them only while the guest runs, unless `set breakpoint always-inserted on`)',
      );
      return;
    }
    print(`${breakpoints.length} software breakpoint(s) (int3), by guest-physical address:`);
    for (const { gpa, shadow, intact, requested } of breakpoints) {
      let asked = '';
      if (requested?.space === 'virtual') asked = `GVA ${hex(requested.address)} -> `;
      else if (requested?.space === 'physical') asked = '(phys mode) ';
      const overwritten = intact ? '' : ' (the guest has written over the int3)';
      const byte = shadow.toString(16).padStart(2, '0');
      print(`  ${asked}GPA ${hex(gpa)}, shadow byte 0x${byte}${overwritten}`);
    }
  },
};
