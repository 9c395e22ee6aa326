export { planBoot } from './boot_plan';
export { BootError } from './errors';
export type { BootOptions, BootPlan, MemoryWrite } from './types';
export * as layout from './layout';
