import { planBoot } from '../../lib/guest';
import { loadGuest } from '../../lib/guest/load';
import { NativeBackedVmm, type VcpuPriority } from '../../lib/vmm/native_vmm';
import type { BackendName, StopEvent } from '../../lib/vmm/vmm';
import { kernelImage, type KernelName } from './kernels';

export interface BootedGuest {
  vmm: NativeBackedVmm;
  /** Everything the guest printed on COM1 so far. */
  console(): string;
  /** Resolves when the console matches, rejects after timeoutMs. */
  waitForConsole(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the next stop event. */
  nextStop(timeoutMs?: number): Promise<StopEvent>;
  destroy(): void;
}

export interface BootOptions {
  backend?: BackendName;
  cpus?: number;
  memoryBytes?: number;
  cmdline?: string;
  /** Resume vCPU 0 right away (default true). */
  run?: boolean;
  vcpuPriority?: VcpuPriority;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)),
        ms,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Boots a test kernel on a backend (emu by default), as the CLI does. */
export function bootKernel(name: KernelName, options: BootOptions = {}): BootedGuest {
  const memoryBytes = options.memoryBytes ?? 64 * 1024 * 1024;
  const cpus = options.cpus ?? 1;
  const plan = planBoot(kernelImage(name), {
    memorySize: memoryBytes,
    cmdline: options.cmdline ?? '',
    cpus,
  });
  const vmm = new NativeBackedVmm(options.backend ?? 'emu', {
    memoryBytes,
    vcpus: cpus,
    vcpuPriority: options.vcpuPriority ?? 'normal',
  });
  vmm.keepAlive(false);
  let output = '';
  const waiters: (() => void)[] = [];
  vmm.on('console', (data) => {
    output += data.toString('latin1');
    for (const wake of waiters.splice(0)) wake();
  });
  loadGuest(vmm, plan);
  vmm.start((options.run ?? true) ? 'running' : 'held');
  return {
    vmm,
    console: () => output,
    waitForConsole(pattern, timeoutMs = 20000) {
      const found = new Promise<string>((resolve) => {
        const check = () => {
          if (pattern.test(output)) resolve(output);
          else waiters.push(check);
        };
        check();
      });
      return withTimeout(
        found,
        timeoutMs,
        `${pattern} on the console (got ${JSON.stringify(output)})`,
      );
    },
    nextStop(timeoutMs = 10000) {
      return withTimeout(
        new Promise<StopEvent>((resolve) => vmm.once('stop', resolve)),
        timeoutMs,
        'a stop event',
      );
    },
    destroy: () => vmm.destroy(),
  };
}
