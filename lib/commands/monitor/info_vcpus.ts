import { threadIdOf } from '../thread_id';
import { vcpuStateText } from '../qxfer_threads';
import { hex, type MonitorCommand } from './monitor_command';

/** `info vcpus`: each vCPU's gdb thread, state and rip. */
export const infoVcpus: MonitorCommand = {
  name: 'info vcpus',
  usage: '',
  summary: "each vCPU's state (running, parked, waiting for SIPI) and rip",
  run: ({ debugger: dbg }, _args, print) => {
    for (const vcpu of dbg.vcpus()) {
      let rip = '';
      if (dbg.vmm.vcpuState(vcpu) !== 'running') {
        try {
          rip = `, rip ${hex(dbg.registers(vcpu).rip)}`;
        } catch {
          rip = ', rip unreadable';
        }
      }
      print(`vCPU ${vcpu} (thread ${threadIdOf(vcpu)}): ${vcpuStateText(dbg, vcpu)}${rip}`);
    }
  },
};
