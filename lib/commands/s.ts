import { parseResume, refuseResume, resumeVcpu, setResumeAddress, type ResumeRequest } from './c';
import { reportStop } from './stop_reply';
import { Errors, type Command, type CommandContext } from './types';

async function handleStep(context: CommandContext, { address }: ResumeRequest) {
  const vcpu = resumeVcpu(context);
  if (vcpu >= context.debugger.vmm.vcpuCount) return Errors.noThread;
  const refused = refuseResume(context, [vcpu]);
  if (refused !== undefined) return refused;
  if (!setResumeAddress(context, vcpu, address)) return Errors.invalid;
  return reportStop(context.session, await context.debugger.step(vcpu), context.debugger);
}

/** `s [addr]`: one instruction on the current vCPU, interrupts masked; the others stay stopped. */
export const s: Command<ResumeRequest> = {
  prefix: 's',
  parse: (body) => parseResume(body, false),
  handle: handleStep,
};

/** `S sig[;addr]`: as s; the signal is ignored. */
export const stepWithSignal: Command<ResumeRequest> = {
  prefix: 'S',
  parse: (body) => parseResume(body, true),
  handle: handleStep,
};
