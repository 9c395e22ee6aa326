import { BlockList, isIP } from 'node:net';
import { parseArgs } from 'node:util';
import type { ListenAddress } from '../gdb_stub';
import { parseSerialTarget, type SerialTarget } from '../guest/console';
import { MAX_MEMORY_SIZE, MIN_MEMORY_SIZE } from '../guest/layout';
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

export type Invocation =
  | { command: 'run'; options: RunOptions }
  | { command: 'help' }
  | { command: 'version' }
  /** No arguments at all: the usage goes to stderr and the exit status is 2. */
  | { command: 'usage' };

/** A mistake in the command line: one line for the user, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One command-line option: the parser, the usage text and the error messages come from these. */
export interface OptionSpec {
  /** The long name, without the dashes. */
  readonly name: string;
  /** The value as the usage shows it (`SIZE`, `auto|emu|kvm|bhyve`); none for a flag. */
  readonly value?: string;
  readonly short?: string;
  /** The value when the option is not given. */
  readonly default?: string;
  /** Other names for the same option; the last one given wins. */
  readonly aliases?: readonly string[];
  /** What it does, a line each; the first may end with the default. */
  readonly help: readonly string[];
}

/** Every option of `vmm-gdbstub run` and the top level, in the order the usage lists them. */
export const OPTIONS: readonly OptionSpec[] = [
  {
    name: 'backend',
    value: 'auto|emu|kvm|bhyve',
    default: 'auto',
    help: ['hypervisor backend (default auto)'],
  },
  {
    name: 'gdb',
    value: 'HOST:PORT | unix:PATH',
    help: ['serve the GDB remote protocol (e.g. 127.0.0.1:1234)'],
  },
  { name: 'wait', help: ['hold vCPU 0 before its first instruction until a debugger attaches'] },
  {
    name: 'memory',
    value: 'SIZE',
    default: '512M',
    help: ['guest RAM, from 2M to 3G, e.g. 512M or 1G (default 512M)'],
  },
  { name: 'cpus', value: 'N', default: '1', help: ['vCPU count, 1 to 64 (default 1)'] },
  {
    name: 'serial',
    value: 'stdio|file:PATH',
    default: 'stdio',
    help: [
      'where COM1 output goes (default stdio); with stdio, standard',
      'input is its input (raw on a terminal: Ctrl-A x quits)',
    ],
  },
  {
    name: 'cmdline',
    value: 'STR',
    default: '',
    aliases: ['append'],
    help: ['kernel command line (--append is its QEMU name)'],
  },
  {
    name: 'initrd',
    value: 'PATH',
    help: ['initial RAM disk for a Linux kernel (bzImage or vmlinux)'],
  },
  {
    name: 'vcpu-priority',
    value: 'normal|idle',
    default: 'normal',
    help: [
      'idle: vCPU threads yield to every other thread, so the',
      'debugger is answered at once even when busy vCPUs',
      'outnumber host CPUs (default normal)',
    ],
  },
  { name: 'trace-rsp', help: ['print every packet to and from the debugger on stderr'] },
  { name: 'help', short: 'h', help: ['print this help'] },
  { name: 'version', help: ['print the version'] },
];

/** `-h, --help` or `--memory SIZE`; aliases are named in the help text. */
function optionHead(spec: OptionSpec): string {
  const short = spec.short !== undefined ? `-${spec.short}, ` : '';
  return `${short}--${spec.name}${spec.value !== undefined ? ` ${spec.value}` : ''}`;
}

function usageText(): string {
  const heads = OPTIONS.map(optionHead);
  const width = Math.max(...heads.map((h) => h.length)) + 3;
  const lines = OPTIONS.flatMap((spec, i) =>
    spec.help.map((text, j) => `  ${(j === 0 ? heads[i]! : '').padEnd(width)}${text}`),
  );
  return `usage: vmm-gdbstub run <kernel> [options]\n       vmm-gdbstub --help | --version\n\n${lines.join('\n')}\n`;
}

export const USAGE = usageText();

/** Where to look when an argument is wrong. */
const SEE_HELP = 'see vmm-gdbstub --help';

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

type Values = Record<string, string | boolean | undefined>;

/**
 * Splits argv by the OPTIONS table. Node's strict mode would do it, but its
 * messages are a paragraph each; these are one line naming the option.
 */
function readOptions(argv: string[]): { values: Values; positionals: string[] } {
  const specOf = new Map<string, OptionSpec>();
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const spec of OPTIONS) {
    for (const name of [spec.name, ...(spec.aliases ?? [])]) {
      specOf.set(name, spec);
      config[name] = { type: spec.value !== undefined ? 'string' : 'boolean' };
    }
    if (spec.short !== undefined) config[spec.name]!.short = spec.short;
  }
  const { tokens } = parseArgs({
    args: argv,
    options: config,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values: Values = {};
  for (const spec of OPTIONS) values[spec.name] = spec.value !== undefined ? spec.default : false;
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value);
      continue;
    }
    if (token.kind !== 'option') continue;
    const spec = specOf.get(token.name);
    if (spec === undefined) throw new UsageError(`unknown option ${token.rawName} (${SEE_HELP})`);
    if (spec.value === undefined) {
      if (token.value !== undefined) throw new UsageError(`${token.rawName} takes no value`);
      values[spec.name] = true;
      continue;
    }
    // `--gdb --wait` would take "--wait" as the address: a forgotten value.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) {
      throw new UsageError(`${token.rawName} needs a value: ${token.rawName} ${spec.value}`);
    }
    values[spec.name] = token.value;
  }
  return { values, positionals };
}

/** The value of a string option (it has a default or was checked by the caller). */
function text(values: Values, name: string): string {
  return values[name] as string;
}

/** `--NAME must be EXPECTED, not "VALUE"`. */
function badValue(name: string, expected: string, values: Values): UsageError {
  return new UsageError(`--${name} must be ${expected}, not "${text(values, name)}"`);
}

export function parseCommandLine(argv: string[]): Invocation {
  if (argv.length === 0) return { command: 'usage' };
  const { values, positionals } = readOptions(argv);
  if (values.help === true) return { command: 'help' };
  if (values.version === true) return { command: 'version' };
  const [command, kernel, ...extra] = positionals;
  if (command === undefined) throw new UsageError(`no command: vmm-gdbstub run <kernel> [options]`);
  if (command !== 'run') {
    throw new UsageError(`unknown command "${command}": vmm-gdbstub run <kernel> [options]`);
  }
  if (kernel === undefined)
    throw new UsageError('run needs a kernel image: vmm-gdbstub run <kernel> [options]');
  if (extra.length > 0) {
    throw new UsageError(`unexpected argument "${extra[0]}": run takes one kernel image`);
  }

  const backend = text(values, 'backend');
  if (!['auto', 'emu', 'kvm', 'bhyve'].includes(backend)) {
    throw badValue('backend', 'auto, emu, kvm or bhyve', values);
  }
  const memoryBytes = parseSize(text(values, 'memory'));
  if (memoryBytes === undefined || memoryBytes < MIN_MEMORY_SIZE || memoryBytes > MAX_MEMORY_SIZE) {
    throw badValue('memory', 'a size from 2M to 3G', values);
  }
  const cpus = /^\d+$/.test(text(values, 'cpus')) ? Number(values.cpus) : NaN;
  if (!(cpus >= 1 && cpus <= MAX_CPUS)) {
    throw badValue('cpus', `an integer from 1 to ${MAX_CPUS}`, values);
  }
  const serial = parseSerialTarget(text(values, 'serial'));
  if (serial === undefined) throw badValue('serial', 'stdio or file:PATH', values);
  const vcpuPriority = text(values, 'vcpu-priority');
  if (vcpuPriority !== 'normal' && vcpuPriority !== 'idle') {
    throw badValue('vcpu-priority', 'normal or idle', values);
  }
  let gdb: ListenAddress | undefined;
  if (values.gdb !== undefined) {
    gdb = parseListenAddress(text(values, 'gdb'));
    if (gdb === undefined) throw badValue('gdb', 'HOST:PORT or unix:PATH', values);
  }
  if (values.wait === true && gdb === undefined) {
    throw new UsageError('--wait needs --gdb: it waits for a debugger (e.g. --gdb 127.0.0.1:1234)');
  }
  if (values['trace-rsp'] === true && gdb === undefined) {
    throw new UsageError("--trace-rsp needs --gdb: it traces the debugger's packets");
  }
  const options: RunOptions = {
    kernel,
    backend: backend as BackendRequest,
    wait: values.wait === true,
    memoryBytes,
    cpus,
    serial,
    cmdline: text(values, 'cmdline'),
    vcpuPriority,
  };
  if (gdb !== undefined) options.gdb = gdb;
  if (values.initrd !== undefined) options.initrd = text(values, 'initrd');
  if (values['trace-rsp'] === true) options.traceRsp = true;
  return { command: 'run', options };
}
