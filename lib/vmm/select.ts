import * as fs from 'node:fs';
import { loadAddon } from './addon';
import type { BackendName } from './vmm';

/** What the host offers, as far as choosing a backend goes. */
export interface HostProbe {
  platform: NodeJS.Platform;
  /** Whether /dev/kvm opened read-write, and why not when it did not. */
  kvmOpens: boolean;
  kvmError?: string;
  /** The CPU advertises svm or vmx. */
  hardwareVirtualization: boolean;
  /** The kvm_pvm module (a software hypervisor behind /dev/kvm) is loaded. */
  pvm: boolean;
  /** Backends whose addon loaded. */
  available: BackendName[];
}

export interface BackendChoice {
  backend: BackendName;
  /** One line: why this backend. */
  reason: string;
}

export type BackendRequest = BackendName | 'auto';

export class BackendUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendUnavailableError';
  }
}

/** Decides which backend to run on; pure, so the rules are testable. */
export function chooseBackend(request: BackendRequest, host: HostProbe): BackendChoice {
  if (request !== 'auto') {
    // The kvm addon loads wherever Linux is; the VM needs /dev/kvm besides.
    if (!host.available.includes(request) || (request === 'kvm' && !host.kvmOpens)) {
      throw new BackendUnavailableError(unavailableReason(request, host));
    }
    return { backend: request, reason: `${request} requested` };
  }
  if (host.platform === 'freebsd' && host.available.includes('bhyve')) {
    return { backend: 'bhyve', reason: 'FreeBSD host: bhyve' };
  }
  const kvmUsable = host.kvmOpens && host.available.includes('kvm');
  if (kvmUsable && host.hardwareVirtualization) {
    return { backend: 'kvm', reason: '/dev/kvm opens on a CPU with hardware virtualization' };
  }
  if (!host.available.includes('emu')) {
    throw new BackendUnavailableError(unavailableReason('emu', host));
  }
  if (kvmUsable && host.pvm) {
    return {
      backend: 'emu',
      reason:
        '/dev/kvm is PVM (software virtualization, slower than emulation for guest kernels): emu; --backend kvm forces it',
    };
  }
  if (kvmUsable) {
    return { backend: 'emu', reason: '/dev/kvm opens but the CPU shows no svm/vmx: emu' };
  }
  const why =
    host.platform !== 'linux' ? `no hypervisor backend on ${host.platform}` : kvmWhy(host);
  return { backend: 'emu', reason: `${why}: emu` };
}

function kvmWhy(host: HostProbe): string {
  if (!host.kvmOpens) return `/dev/kvm does not open (${host.kvmError ?? 'unknown error'})`;
  return 'the kvm backend is not in this build';
}

function unavailableReason(backend: BackendName, host: HostProbe): string {
  switch (backend) {
    case 'kvm':
      return host.platform !== 'linux'
        ? 'the kvm backend needs Linux'
        : host.kvmOpens
          ? 'the kvm backend is not in this build'
          : `the kvm backend needs /dev/kvm, which does not open (${host.kvmError ?? 'unknown error'}): use --backend emu, or get read-write access to /dev/kvm`;
    case 'bhyve':
      return 'the bhyve backend needs FreeBSD: use --backend emu or auto';
    case 'emu':
      return 'the emu addon did not load (rebuild with `npm run build:native`)';
  }
}

function backendsOfAddons(): BackendName[] {
  const out: BackendName[] = [];
  for (const name of ['core', 'emu'] as const) {
    const addon = loadAddon(name);
    if (!(addon instanceof Error)) out.push(...(addon.backends() as BackendName[]));
  }
  return out;
}

/** Looks at this host: /dev/kvm, the CPU flags, the kvm_pvm module, the addons. */
export function probeHost(): HostProbe {
  let kvmOpens = false;
  let kvmError: string | undefined;
  try {
    fs.closeSync(fs.openSync('/dev/kvm', 'r+'));
    kvmOpens = true;
  } catch (error) {
    kvmError = (error as NodeJS.ErrnoException).code ?? String(error);
  }
  let cpuinfo = '';
  try {
    cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // not Linux: no flags to read
  }
  const probe: HostProbe = {
    platform: process.platform,
    kvmOpens,
    hardwareVirtualization: /^flags\s*:.*\b(svm|vmx)\b/m.test(cpuinfo),
    pvm: fs.existsSync('/sys/module/kvm_pvm'),
    available: backendsOfAddons(),
  };
  if (kvmError !== undefined) probe.kvmError = kvmError;
  return probe;
}
