import * as fs from 'node:fs';
import { Debugger } from '../debugger/debugger';
import { GdbStub, type ListenAddress } from '../gdb_stub';
import { openConsole } from '../guest/console';
import { BootError, planBoot } from '../guest';
import { loadGuest } from '../guest/load';
import { NativeBackedVmm } from '../vmm/native_vmm';
import { chooseBackend, probeHost } from '../vmm/select';
import { isLocalAddress, type RunOptions } from './args';

/** A failure to report as one line, with exit status 1. */
export class RunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunError';
  }
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
      code === 'ENOENT' ? `${path}: no such file` : `${path}: ${(error as Error).message}`,
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

  let choice;
  try {
    choice = chooseBackend(options.backend, probeHost());
  } catch (error) {
    throw new RunError((error as Error).message);
  }
  say(`backend ${choice.backend} (${choice.reason})`);

  const vmm = new NativeBackedVmm(choice.backend, {
    memoryBytes: options.memoryBytes,
    vcpus: options.cpus,
    vcpuPriority: options.vcpuPriority,
  });
  const console = openConsole(options.serial);
  vmm.on('console', (data) => console.write(data));
  vmm.on('log', (line) => say(line));
  loadGuest(vmm, plan);
  vmm.start();
  const dbg = new Debugger(vmm);

  return new Promise<number>((resolve) => {
    let stub: GdbStub | undefined;
    let attached = false;
    const finish = (status: number) => {
      void stub?.close();
      vmm.destroy();
      console.close();
      resolve(status);
    };

    dbg.on('stopped', (stop) => {
      if (attached) return;
      if (stop.reason === 'shutdown' || stop.reason === 'error' || stop.reason === 'halt') {
        say(
          `vCPU ${stop.vcpu} stopped: ${stop.message ?? stop.reason} (rip 0x${stop.rip.toString(16)})`,
        );
        if (stub === undefined) finish(stop.reason === 'error' ? 1 : 0);
        else say('the stub stays up: attach a debugger to look at the guest');
      }
    });
    process.once('SIGINT', () => finish(130));
    process.once('SIGTERM', () => finish(143));

    if (options.gdb === undefined) {
      dbg.detach();
      return;
    }
    stub = new GdbStub(dbg, {
      listen: options.gdb,
      traceRsp: options.traceRsp === true ? (line) => say(`rsp ${line}`) : undefined,
    });
    stub.on('attach', () => {
      attached = true;
    });
    stub.on('detach', () => {
      attached = false;
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
        if (!options.wait) dbg.detach();
      },
      (error: NodeJS.ErrnoException) => {
        say(
          error.code === 'EADDRINUSE'
            ? `cannot listen on ${describeAddress(options.gdb!)}: address in use`
            : `cannot listen on ${describeAddress(options.gdb!)}: ${error.message}`,
        );
        stub = undefined;
        finish(1);
      },
    );
  });
}

function describeAddress(address: ListenAddress): string {
  return 'path' in address ? address.path : `${address.host}:${address.port}`;
}
