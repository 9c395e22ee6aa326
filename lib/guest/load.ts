import type { Vmm } from '../vmm/vmm';
import type { BootPlan } from './types';

/** Puts a boot plan into a created (not yet started) VM: memory, then vCPU 0's registers. */
export function loadGuest(vmm: Vmm, plan: BootPlan): void {
  for (const write of plan.writes) vmm.writePhysical(write.gpa, write.data);
  vmm.setRegisters(0, plan.bsp);
}
