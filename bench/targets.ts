import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** One gdbstub implementation on one accelerator. */
export interface TargetKind {
  /** Column heading: `QEMU TCG`, `emu`, `QEMU KVM`, `kvm`. */
  name: string;
  /** Which QEMU column a vmm-gdbstub column is compared with (same accelerator). */
  accel: 'tcg' | 'kvm';
  qemu: boolean;
  /** Most vCPUs this backend runs (emu: FAKEVMM_MAXCPU). */
  maxCpus: number;
  /** Seconds a boot may take before the run gives up on it. */
  bootTimeout: number;
}

export interface BootRequest {
  kernel: string;
  memoryMiB: number;
  cpus: number;
  cmdline: string;
  /** The COM1 line that says the kernel is up. */
  readyLine: string;
  /** vmm-gdbstub only: `--vcpu-priority idle`. */
  idleVcpus?: boolean;
}

export interface RunningTarget {
  port: number;
  pid: number;
  /** Whether readyLine appeared before the boot timeout. */
  ready: boolean;
  bootSeconds: number;
  serial(): string;
  stop(): Promise<void>;
}

export interface LaunchOptions {
  /** Folder holding dist/cli.js and addons/ of the stub under test. */
  stubRoot: string;
  qemuBinary: string;
  /** Extra node flags for the stub (e.g. --cpu-prof). */
  nodeFlags: string[];
  workDir: string;
  /** CPUs the target runs on (`taskset -c LIST`); undefined: those this process has. */
  taskset?: string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let launches = 0;

/** Starts the target with its gdb server on a free port and waits for the kernel's line. */
export async function launch(
  kind: TargetKind,
  boot: BootRequest,
  options: LaunchOptions,
): Promise<RunningTarget> {
  const port = await freePort();
  const serialPath = path.join(options.workDir, `serial-${++launches}.txt`);
  fs.writeFileSync(serialPath, '');
  let command: string;
  let args: string[];
  if (kind.qemu) {
    command = options.qemuBinary;
    args = [
      '-accel',
      kind.accel,
      '-display',
      'none',
      '-no-reboot',
      '-m',
      String(boot.memoryMiB),
      '-smp',
      String(boot.cpus),
      '-kernel',
      boot.kernel,
      '-serial',
      `file:${serialPath}`,
      '-gdb',
      `tcp:127.0.0.1:${port}`,
    ];
    if (boot.cmdline !== '') args.push('-append', boot.cmdline);
  } else {
    command = process.execPath;
    args = [
      ...options.nodeFlags,
      path.join(options.stubRoot, 'dist', 'cli.js'),
      'run',
      boot.kernel,
      '--backend',
      kind.name,
      '--memory',
      `${boot.memoryMiB}M`,
      '--cpus',
      String(boot.cpus),
      '--serial',
      `file:${serialPath}`,
      '--gdb',
      `127.0.0.1:${port}`,
    ];
    if (boot.cmdline !== '') args.push('--cmdline', boot.cmdline);
    if (boot.idleVcpus === true) args.push('--vcpu-priority', 'idle');
  }
  if (options.taskset !== undefined) {
    args = ['-c', options.taskset, command, ...args];
    command = 'taskset';
  }
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const serial = () => fs.readFileSync(serialPath, 'latin1');
  const started = performance.now();
  const deadline = started + kind.bootTimeout * 1000;
  let ready = false;
  while (!exited && performance.now() < deadline) {
    if (serial().includes(boot.readyLine)) {
      ready = true;
      break;
    }
    await sleep(20);
  }
  if (exited) {
    throw new Error(
      `${kind.name} exited during boot: ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
  const bootSeconds = (performance.now() - started) / 1000;
  return {
    port,
    pid: child.pid!,
    ready,
    bootSeconds,
    serial,
    async stop() {
      if (!exited) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** Resident set size of a process in bytes (Linux /proc), undefined elsewhere. */
export function residentBytes(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function makeWorkDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'vmm-gdbstub-bench-'));
}
