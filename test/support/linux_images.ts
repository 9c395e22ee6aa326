import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { ROOT } from './kernels';

/** What scripts/fetch-linux.js prints: Debian's kernel, the busybox initramfs, and where they are. */
export interface LinuxImages {
  version: string;
  kernel: string;
  initramfs: string;
  /** The line /init prints before it powers off. */
  marker: string;
  /** The -dbg package's vmlinux, when it is in the cache (fetch-linux.js --symbols). */
  vmlinux?: string;
}

/** Runs scripts/fetch-linux.js (about 5 s from a warm cache) and returns its paths. */
export function fetchLinux(): LinuxImages {
  const out = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'fetch-linux.js')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out) as LinuxImages;
}

/** `vmm-gdbstub run` arguments that boot the images on emu, as a user types them. */
export function linuxRunArgs(linux: LinuxImages, append: string, cpus: number): string[] {
  return [
    'run',
    linux.kernel,
    '--initrd',
    linux.initramfs,
    '--append',
    append,
    '--cpus',
    String(cpus),
    '--backend',
    'emu',
  ];
}
