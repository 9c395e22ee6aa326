import * as path from 'node:path';
import type { RegisterFile } from './registers';

/** What the native addons export (native/vmm/napi_vmm.cc). */
export interface NativeVmm {
  readonly backend: string;
  readonly vcpuCount: number;
  memoryRegions(): { gpa: number; size: number }[];
  readMemory(gpa: number, length: number): Buffer;
  readMemoryInto(gpa: number, length: number, target: Buffer, offset: number): void;
  writeMemory(gpa: number, data: Buffer): void;
  getRegisters(vcpu: number): RegisterFile;
  setRegisters(vcpu: number, registers: RegisterFile): void;
  gla2gpa(vcpu: number, gla: bigint, prot: number): bigint | null;
  setBreakpointExits(on: boolean): void;
  serialInput(data: Buffer): void;
  injectException(vcpu: number, vector: number, errorCode?: number): void;
  debugCapabilities(): { slots: number; kinds: string[] };
  setDebugSlots(
    vcpu: number,
    slots: ({ address: bigint; kind: string; length: number } | null)[],
  ): void;
  start(): void;
  resume(
    vcpu: number,
    options: {
      step: boolean;
      maskInterrupts: boolean;
      startHere?: boolean;
      rangeStart?: bigint;
      rangeEnd?: bigint;
    },
  ): boolean | undefined;
  /** One call for the step over a breakpoint and the continue after it (napi_vmm.cc); null where it cannot. */
  stepOverAndContinue?(
    vcpu: number,
    gpa: number,
    original: number,
  ): { shadow: number; continued: boolean; events: NativeEvent[] } | null;
  pause(vcpu: number): boolean;
  pauseAll(waitMs: number): NativeEvent[];
  waitForStop(waitMs: number): NativeEvent[];
  vcpuState(vcpu: number): string;
  ref(): void;
  unref(): void;
  destroy(): void;
}

export type NativeEvent =
  | {
      type: 'stop';
      vcpu: number;
      reason: string;
      rip: bigint;
      message?: string;
      end?: string;
      slot?: number;
      address?: bigint;
      access?: string;
    }
  | { type: 'started'; vcpu: number }
  | { type: 'console'; data: Buffer }
  | { type: 'log'; message: string };

export interface NativeAddon {
  Vmm: new (
    backend: string,
    config: { name: string; memoryBytes: number; vcpus: number; vcpuPriority: string },
    onEvent: (event: NativeEvent) => void,
  ) => NativeVmm;
  backends(): string[];
  /** Whether `fd` became readable within `microseconds` (at most 1000), polled on this thread; absent in an older addon. */
  spinForInput?(fd: number, microseconds: number): boolean;
  /** What the socket holds now, or null (socket_now.h); absent from older addons. */
  readSocketNow?(fd: number, maxBytes: number): Buffer | null;
  /** How many bytes of `data` the socket took now; absent from older addons. */
  writeSocketNow?(fd: number, data: Buffer): number;
}

/**
 * The two addon binaries: `core` (permissive licence: kvm, and bhyve on
 * FreeBSD) and `emu` (GPL-2.0: the fake vmm on Unicorn). Each folder under
 * addons/ holds its own build/Release or prebuilds/ for node-gyp-build.
 */
export type AddonName = 'core' | 'emu';

const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');
/** VMM_ADDONS_DIR points at another build's addons/ (the sanitizer build in CI). */
const ADDONS_DIR = process.env.VMM_ADDONS_DIR ?? path.join(PACKAGE_ROOT, 'addons');
const loaded = new Map<AddonName, NativeAddon | Error>();

/** Loads an addon once; returns the load error instead of throwing it. */
export function loadAddon(name: AddonName): NativeAddon | Error {
  let addon = loaded.get(name);
  if (addon === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeAddon;
      addon = nodeGypBuild(path.join(ADDONS_DIR, name));
    } catch (error) {
      addon = error instanceof Error ? error : new Error(String(error));
    }
    loaded.set(name, addon);
  }
  return addon;
}
