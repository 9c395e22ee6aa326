import { onOff, type MonitorCommand } from './monitor_command';

/**
 * `phys on|off`: whether m, M, x, X and Z0/z0 addresses are guest-physical.
 * The debugger holds the mode (its memory path serves every packet that
 * touches memory); it goes back to virtual when the debugger detaches.
 */
export const phys: MonitorCommand = {
  name: 'phys',
  usage: 'on|off',
  summary: 'memory and Z0 addresses are guest-physical (on) or guest-virtual (off, the default)',
  run: (context, args, print) => {
    const dbg = context.debugger;
    if (args.length > 0) dbg.addressSpace = onOff(phys, args) ? 'physical' : 'virtual';
    if (dbg.addressSpace === 'physical') {
      print('phys on: memory and Z0 addresses are guest-physical (symbols are virtual addresses)');
    } else {
      print("phys off: memory and Z0 addresses are guest-virtual, through the vCPU's page tables");
    }
  },
};
