import { execFileSync } from 'node:child_process';
import { planBoot } from '../../lib/guest';
import { loadGuest } from '../../lib/guest/load';
import { NativeBackedVmm } from '../../lib/vmm/native_vmm';
import { probeHost } from '../../lib/vmm/select';
import type { StopEvent } from '../../lib/vmm/vmm';
import { kernelPath, type KernelName } from './kernels';

/** Whether the kvm backend can run here, and the one line that says so. */
export interface KvmAvailability {
  usable: boolean;
  pvm: boolean;
  /** `kvm: hardware KVM`, `kvm: PVM (kvm_pvm)` or `SKIP kvm: <reason>`. */
  line: string;
}

export function kvmAvailability(): KvmAvailability {
  const host = probeHost();
  if (host.platform !== 'linux') {
    return { usable: false, pvm: false, line: `SKIP kvm: ${host.platform} is not Linux` };
  }
  if (!host.kvmOpens) {
    return {
      usable: false,
      pvm: false,
      line: `SKIP kvm: /dev/kvm does not open (${host.kvmError ?? 'unknown error'})`,
    };
  }
  if (!host.available.includes('kvm')) {
    return {
      usable: false,
      pvm: host.pvm,
      line: 'SKIP kvm: the kvm backend is not in the core addon (rebuild with `npm run build:native`)',
    };
  }
  if (host.pvm) return { usable: true, pvm: true, line: 'kvm: PVM (kvm_pvm)' };
  return {
    usable: true,
    pvm: false,
    line: host.hardwareVirtualization ? 'kvm: hardware KVM' : 'kvm: KVM without svm/vmx flags',
  };
}

export interface Instruction {
  address: bigint;
  text: string;
}

/** One function's instructions, from binutils' objdump. */
export function disassemble(kernel: KernelName, fn: string): Instruction[] {
  const out = execFileSync(
    'objdump',
    ['-d', '--no-show-raw-insn', `--disassemble=${fn}`, kernelPath(kernel)],
    { encoding: 'utf8' },
  );
  const instructions: Instruction[] = [];
  for (const line of out.split('\n')) {
    const match = /^\s+([0-9a-f]+):\s+(\S.*)$/.exec(line);
    if (match) instructions.push({ address: BigInt('0x' + match[1]!), text: match[2]!.trim() });
  }
  return instructions;
}

/**
 * A Multiboot kernel of a few bytes that loads an empty IDT and executes
 * ud2: #UD cannot be delivered, nor can the #GP and #DF that follow, so the
 * CPU shuts down (a triple fault).
 */
export function tripleFaultImage(): Buffer {
  const image = Buffer.alloc(0x50);
  const magic = 0x1badb002;
  const flags = 0x00010000; // address fields
  image.writeUInt32LE(magic, 0);
  image.writeUInt32LE(flags, 4);
  image.writeUInt32LE((0x100000000 - ((magic + flags) % 0x100000000)) % 0x100000000, 8);
  image.writeUInt32LE(0x100000, 12); // header_addr
  image.writeUInt32LE(0x100000, 16); // load_addr
  image.writeUInt32LE(0, 20); // load_end_addr: the whole file
  image.writeUInt32LE(0, 24); // bss_end_addr: none
  image.writeUInt32LE(0x100020, 28); // entry_addr
  // 0x100020: lidt (0x100040); ud2
  Buffer.from([0x0f, 0x01, 0x1d, 0x40, 0x00, 0x10, 0x00, 0x0f, 0x0b]).copy(image, 0x20);
  // 0x100040: the IDT pseudo-descriptor: limit 0, base 0
  return image;
}

export interface ImageGuest {
  vmm: NativeBackedVmm;
  nextStop(timeoutMs?: number): Promise<StopEvent>;
}

/** Loads a kernel image on a backend and starts vCPU 0. */
export function bootImage(image: Buffer, backend: 'kvm' | 'emu'): ImageGuest {
  const memoryBytes = 16 << 20;
  const plan = planBoot(image, { memorySize: memoryBytes, cmdline: '', cpus: 1 });
  const vmm = new NativeBackedVmm(backend, { memoryBytes, vcpus: 1 });
  vmm.keepAlive(false);
  loadGuest(vmm, plan);
  vmm.start();
  vmm.resume(0);
  return {
    vmm,
    nextStop(timeoutMs = 10000) {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([
        new Promise<StopEvent>((resolve) => vmm.once('stop', resolve)),
        new Promise<StopEvent>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out waiting for a stop')), timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
    },
  };
}
