import { BlockList, isIP } from 'node:net';
import { parseArgs } from 'node:util';
import type { ListenAddress } from '../gdb_stub';
import { parseSerialTarget, type SerialTarget } from '../guest/console';
import type { VcpuPriority } from '../vmm/native_vmm';
import type { BackendRequest } from '../vmm/select';

export interface RunOptions {
  kernel: string;
  backend: BackendRequest;
  gdb?: ListenAddress;
  wait: boolean;
  memoryBytes: number;
  cpus: number;
  serial: SerialTarget;
  cmdline: string;
  /** Path of the initial RAM disk for a Linux kernel (--initrd). */
  initrd?: string;
  /** Scheduling of the vCPU threads (--vcpu-priority). */
  vcpuPriority: VcpuPriority;
  /** Print every RSP packet in and out on stderr (--trace-rsp). */
  traceRsp?: boolean;
}

export type Invocation = { command: 'run'; options: RunOptions } | { command: 'help' };

/** A mistake in the command line: one line for the user, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `usage: vmm-gdbstub run <kernel> [options]

  --backend auto|emu|kvm|bhyve   hypervisor backend (default auto)
  --gdb HOST:PORT | unix:PATH    serve the GDB remote protocol (e.g. 127.0.0.1:1234)
  --wait                         hold vCPU 0 before its first instruction until a debugger attaches
  --memory SIZE                  guest RAM, e.g. 512M or 1G (default 512M)
  --cpus N                       vCPU count (default 1)
  --serial stdio|file:PATH       where COM1 output goes (default stdio)
  --cmdline STR                  kernel command line (--append STR: the same, QEMU's name)
  --initrd PATH                  initial RAM disk for a Linux kernel (bzImage or vmlinux)
  --vcpu-priority normal|idle    idle: vCPU threads yield to every other thread, so the
                                 debugger is answered at once even when busy vCPUs
                                 outnumber host CPUs (default normal)
  --trace-rsp                    print every packet to and from the debugger on stderr
`;

const MIN_MEMORY = 2 * 1024 * 1024;
const MAX_MEMORY = 3 * 1024 * 1024 * 1024;
const MAX_CPUS = 64;

/** Parses `512M`, `1G`, `65536K` or a byte count. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+)([KMG]?)i?B?$/i.exec(text);
  if (!match) return undefined;
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2]!.toUpperCase()]!;
  const value = Number(match[1]) * unit;
  return Number.isSafeInteger(value) ? value : undefined;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Whether only this machine can reach the address: a Unix socket, localhost,
 * 127.0.0.0/8 or ::1 (IPv4-mapped forms included). Anything else is reachable
 * from the network, and whoever connects controls the guest.
 */
export function isLocalAddress(address: ListenAddress): boolean {
  if ('path' in address) return true;
  const host = address.host.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost') return true;
  const family = isIP(host);
  if (family === 0) return false;
  return LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/** Parses `HOST:PORT`, `:PORT`, `PORT` or `unix:PATH`. */
export function parseListenAddress(text: string): ListenAddress | undefined {
  if (text.startsWith('unix:')) return text.length > 5 ? { path: text.slice(5) } : undefined;
  const match = /^(?:(\[[^\]]+\]|[^:]*):)?(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port > 65535) return undefined;
  const host = (match[1] ?? '').replace(/^\[|\]$/g, '') || '127.0.0.1';
  return { host, port };
}

export function parseCommandLine(argv: string[]): Invocation {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        backend: { type: 'string', default: 'auto' },
        gdb: { type: 'string' },
        wait: { type: 'boolean', default: false },
        memory: { type: 'string', default: '512M' },
        cpus: { type: 'string', default: '1' },
        serial: { type: 'string', default: 'stdio' },
        cmdline: { type: 'string' },
        append: { type: 'string' },
        initrd: { type: 'string' },
        'vcpu-priority': { type: 'string', default: 'normal' },
        'trace-rsp': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) return { command: 'help' };
  const [command, kernel, ...extra] = positionals;
  if (command !== 'run') throw new UsageError(`unknown command "${command}" (try: run)`);
  if (kernel === undefined) throw new UsageError('run needs a kernel image');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);

  const backend = values.backend;
  if (!['auto', 'emu', 'kvm', 'bhyve'].includes(backend)) {
    throw new UsageError(`--backend must be auto, emu, kvm or bhyve, not "${backend}"`);
  }
  const memoryBytes = parseSize(values.memory);
  if (memoryBytes === undefined || memoryBytes < MIN_MEMORY || memoryBytes > MAX_MEMORY) {
    throw new UsageError(`--memory must be a size from 2M to 3G, not "${values.memory}"`);
  }
  const cpus = /^\d+$/.test(values.cpus) ? Number(values.cpus) : NaN;
  if (!(cpus >= 1 && cpus <= MAX_CPUS)) {
    throw new UsageError(`--cpus must be an integer from 1 to ${MAX_CPUS}, not "${values.cpus}"`);
  }
  const serial = parseSerialTarget(values.serial);
  if (serial === undefined) {
    throw new UsageError(`--serial must be stdio or file:PATH, not "${values.serial}"`);
  }
  const vcpuPriority = values['vcpu-priority'];
  if (vcpuPriority !== 'normal' && vcpuPriority !== 'idle') {
    throw new UsageError(`--vcpu-priority must be normal or idle, not "${vcpuPriority}"`);
  }
  let gdb: ListenAddress | undefined;
  if (values.gdb !== undefined) {
    gdb = parseListenAddress(values.gdb);
    if (gdb === undefined) {
      throw new UsageError(`--gdb must be HOST:PORT or unix:PATH, not "${values.gdb}"`);
    }
  }
  if (values.wait && gdb === undefined) throw new UsageError('--wait needs --gdb');
  if (values['trace-rsp'] && gdb === undefined) throw new UsageError('--trace-rsp needs --gdb');
  if (values.cmdline !== undefined && values.append !== undefined) {
    throw new UsageError('--append is another name for --cmdline: give one of them');
  }
  const options: RunOptions = {
    kernel,
    backend: backend as BackendRequest,
    wait: values.wait,
    memoryBytes,
    cpus,
    serial,
    cmdline: values.cmdline ?? values.append ?? '',
    vcpuPriority,
  };
  if (values.initrd !== undefined) options.initrd = values.initrd;
  if (gdb !== undefined) options.gdb = gdb;
  if (values['trace-rsp']) options.traceRsp = true;
  return { command: 'run', options };
}
