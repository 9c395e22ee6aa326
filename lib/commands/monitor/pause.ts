import { MonitorError, vcpuArgument, type MonitorCommand } from './monitor_command';

/**
 * `pause N`: vCPU N stays parked across every continue (c, vCont;c) until
 * `resume N` or detach. The guest is stopped whenever gdb sends a monitor
 * command (all-stop), so the hold only takes effect on the next resume. An
 * explicit single step of a held vCPU still steps it.
 */
export const pause: MonitorCommand = {
  name: 'pause',
  usage: 'N',
  summary: 'keep vCPU N parked across continue until `monitor resume N`',
  run: (context, args, print) => {
    const dbg = context.debugger;
    const vcpu = vcpuArgument(pause, context, args);
    if (dbg.vmm.vcpuState(vcpu) === 'waiting-for-sipi') {
      throw new MonitorError(`vCPU ${vcpu} is waiting for SIPI: it can be paused once it runs`);
    }
    dbg.hold(vcpu);
    print(`vCPU ${vcpu} paused: it stays parked across continue until \`monitor resume ${vcpu}\``);
    if (dbg.vcpus().every((v) => dbg.isHeld(v) || dbg.vmm.vcpuState(v) === 'waiting-for-sipi')) {
      print('every vCPU that runs is now paused: a continue will stop at once');
    }
  },
};

/** `resume N`: releases a vCPU `pause` held; it runs again with the next continue. */
export const resume: MonitorCommand = {
  name: 'resume',
  usage: 'N',
  summary: 'release vCPU N from `monitor pause`: it runs again on the next continue',
  run: (context, args, print) => {
    const vcpu = vcpuArgument(resume, context, args);
    if (!context.debugger.isHeld(vcpu)) {
      print(`vCPU ${vcpu} was not paused by \`monitor pause\`; nothing to do`);
      return;
    }
    context.debugger.release(vcpu);
    print(`vCPU ${vcpu} released: it runs again on the next continue`);
  },
};
