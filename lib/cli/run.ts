import * as fs from 'node:fs';
import * as path from 'node:path';
import { Debugger, endsGuest } from '../debugger/debugger';
import { GdbStub, type ListenAddress } from '../gdb_stub';
import { openConsole, type SerialTarget } from '../guest/console';
import { attachSerialInput } from '../guest/serial_input';
import { BootError, planBoot } from '../guest';
import { loadGuest } from '../guest/load';
import { NativeBackedVmm } from '../vmm/native_vmm';
import { VmmError } from '../vmm/vmm';
import { chooseBackend, probeHost } from '../vmm/select';
import { isLocalAddress, type RunOptions } from './args';

/** A failure to report as one line, with exit status 1. */
export class RunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunError';
  }
}

/** What went wrong, in words, for the system errors a user can cause and fix. */
const SYSTEM_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EADDRINUSE: 'address in use',
  EADDRNOTAVAIL: 'no such address on this machine',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'is a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  ENAMETOOLONG: 'the path is too long',
  ENOMEM: 'not enough memory',
};

/** A system error as one phrase: Node's text without the syscall and path it repeats. */
export function describeSystemError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && code in SYSTEM_ERRORS) return SYSTEM_ERRORS[code]!;
  return (error as Error).message ?? String(error);
}

function say(line: string): void {
  process.stderr.write(`vmm-gdbstub: ${line}\n`);
}

function connectHints(address: ListenAddress, kernel: string): string[] {
  if ('path' in address) {
    return [
      `gdb ${kernel} -ex 'target remote ${address.path}'`,
      `lldb ${kernel} -o 'gdb-remote unix-connect://${address.path}'`,
    ];
  }
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return [
    `gdb ${kernel} -ex 'target remote ${host}:${address.port}'`,
    `lldb ${kernel} -o 'gdb-remote ${host}:${address.port}'`,
  ];
}

function readInput(path: string): Buffer {
  try {
    return fs.readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new RunError(
      `${path}: ${code === 'ENOENT' ? 'no such file' : describeSystemError(error)}`,
    );
  }
}

/** `vmm-gdbstub run`: boots the kernel and serves gdb; resolves with the exit status. */
export async function run(options: RunOptions): Promise<number> {
  const image = readInput(options.kernel);
  const initrd = options.initrd === undefined ? undefined : readInput(options.initrd);
  let plan;
  try {
    plan = planBoot(image, {
      memorySize: options.memoryBytes,
      cmdline: options.cmdline,
      cpus: options.cpus,
      ...(initrd === undefined ? {} : { initrd }),
    });
  } catch (error) {
    if (error instanceof BootError) throw new RunError(`${options.kernel}: ${error.message}`);
    throw error;
  }

  let console;
  try {
    console = openConsole(options.serial);
  } catch (error) {
    throw new RunError(serialError(options.serial, error));
  }
  let choice;
  try {
    choice = chooseBackend(options.backend, probeHost());
  } catch (error) {
    console.close();
    throw new RunError((error as Error).message);
  }
  say(`backend ${choice.backend} (${choice.reason})`);

  let vmm;
  try {
    vmm = new NativeBackedVmm(choice.backend, {
      memoryBytes: options.memoryBytes,
      vcpus: options.cpus,
      vcpuPriority: options.vcpuPriority,
    });
  } catch (error) {
    console.close();
    if (!(error instanceof VmmError)) throw error;
    throw new RunError(`cannot create the ${choice.backend} VM: ${error.message}`);
  }
  vmm.on('console', (data) => console.write(data));
  // --serial stdio: standard input is COM1's input (raw on a terminal, Ctrl-A x quits).
  let detachInput = () => {};
  vmm.on('log', (line) => say(line));
  loadGuest(vmm, plan);
  // With a gdb server, vCPU 0 waits for it to listen (or, with --wait, for a debugger).
  vmm.start(options.gdb === undefined ? 'running' : 'held');
  const dbg = new Debugger(vmm);

  return new Promise<number>((resolve) => {
    let stub: GdbStub | undefined;
    let attached = false;
    let finished = false;
    const finish = (status: number) => {
      if (finished) return; // the guest's end and a debugger's exit can both get here
      finished = true;
      detachInput();
      void stub?.close();
      vmm.destroy();
      console.close();
      resolve(status);
    };

    dbg.on('stopped', (stop) => {
      if (attached) return;
      if (endsGuest(stop)) {
        // Powered off, reset or halted for good: nothing is left to debug.
        say(`the guest ended: ${stop.message ?? stop.end}`);
        finish(0);
      } else if (stop.reason === 'shutdown' || stop.reason === 'error' || stop.reason === 'halt') {
        say(
          `vCPU ${stop.vcpu} stopped: ${stop.message ?? stop.reason} (rip 0x${stop.rip.toString(16)})`,
        );
        if (stub === undefined) finish(stop.reason === 'error' ? 1 : 0);
        else say('the stub stays up: attach a debugger to look at the guest');
      }
    });
    if (options.serial.kind === 'stdio') {
      detachInput = attachSerialInput(process.stdin, {
        data: (bytes) => vmm.serialInput(bytes),
        quit: () => {
          say('quit (Ctrl-A x)');
          finish(0);
        },
      });
    }
    process.once('SIGINT', () => finish(130));
    process.once('SIGTERM', () => finish(143));

    if (options.gdb === undefined) return;
    stub = new GdbStub(dbg, {
      listen: options.gdb,
      traceRsp: options.traceRsp === true ? (line) => say(`rsp ${line}`) : undefined,
    });
    stub.on('attach', () => {
      attached = true;
    });
    stub.on('detach', () => {
      attached = false;
      // The debugger saw the exit reply and left: the run is over.
      if (dbg.guestEnded() !== undefined) finish(0);
    });
    stub.on('kill', () => finish(0));
    stub.on('notice', say);
    stub.listen().then(
      (address) => {
        say(`gdb server on ${address}${options.wait ? ', waiting for a debugger' : ''}`);
        if (!isLocalAddress(options.gdb!)) {
          say(
            `warning: ${describeAddress(options.gdb!)} is reachable from other machines, and whoever connects controls the guest`,
          );
        }
        for (const hint of connectHints(options.gdb!, options.kernel)) say(`  ${hint}`);
        // No debugger yet: let the guest run, as a debugger's detach would.
        if (!options.wait) dbg.detach();
      },
      (error: NodeJS.ErrnoException) => {
        const why =
          error.code === 'EADDRINUSE'
            ? 'address in use (something listens there already: choose another --gdb address)'
            : error.code === 'ENOENT'
              ? error.message
              : describeSystemError(error);
        say(`cannot listen on ${describeAddress(options.gdb!)}: ${why}`);
        stub = undefined;
        finish(1);
      },
    );
  });
}

/** Why the console's file could not be opened, and what to do. */
function serialError(target: SerialTarget, error: unknown): string {
  const file = target.kind === 'file' ? target.path : 'stdout';
  const code = (error as NodeJS.ErrnoException).code;
  const dir = path.dirname(file);
  if (code === 'ENOENT' && !fs.existsSync(dir)) {
    return `--serial file:${file}: no directory ${dir} (create it, or write COM1 elsewhere)`;
  }
  return `--serial file:${file}: cannot write the file: ${describeSystemError(error)}`;
}

function describeAddress(address: ListenAddress): string {
  return 'path' in address ? address.path : `${address.host}:${address.port}`;
}
