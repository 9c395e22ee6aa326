import { addressArgument, hex, type MonitorCommand } from './monitor_command';

/** `gla2gpa ADDR`: a guest-virtual address through the page tables of the current (Hg) vCPU. */
export const gla2gpa: MonitorCommand = {
  name: 'gla2gpa',
  usage: 'ADDR',
  summary: "translate a guest-virtual address (hex) with the current vCPU's page tables",
  run: ({ debugger: dbg, session }, args, print) => {
    const address = addressArgument(gla2gpa, args);
    const vcpu = session.generalVcpu;
    const gpa = dbg.translate(vcpu, address);
    if (gpa === undefined) {
      print(`${hex(address)}: not mapped (vCPU ${vcpu})`);
      return;
    }
    const ram = dbg.vmm
      .memoryRegions()
      .some((r) => gpa >= BigInt(r.gpa) && gpa < BigInt(r.gpa) + BigInt(r.size));
    print(`${hex(address)} -> ${hex(gpa)}${ram ? '' : ' (not guest RAM)'} (vCPU ${vcpu})`);
  },
};
