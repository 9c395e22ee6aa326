import { planBoot } from '../../lib/guest';
import { loadGuest } from '../../lib/guest/load';
import { NativeBackedVmm } from '../../lib/vmm/native_vmm';
import type { StopEvent } from '../../lib/vmm/vmm';

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
