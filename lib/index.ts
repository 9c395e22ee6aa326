/**
 * vmm-gdbstub: a GDB remote stub for x86-64 virtual machines.
 *
 * The typed API for embedding: create a Vmm on a backend, load a guest,
 * wrap it in a Debugger and serve it with a GdbStub.
 */
export { Debugger, type Stop } from './debugger/debugger';
export { GdbStub, DEFAULT_PACKET_SIZE, type GdbStubOptions, type ListenAddress } from './gdb_stub';
export { planBoot, BootError, type BootOptions, type BootPlan } from './guest';
export { loadGuest } from './guest/load';
export { NativeBackedVmm, type VmConfig } from './vmm/native_vmm';
export { chooseBackend, probeHost, type BackendChoice, type HostProbe } from './vmm/select';
export * from './vmm/vmm';
export type * from './vmm/registers';
