import { execFile } from 'node:child_process';
import type { TestBackend } from './backends';
import { startCli, type CliProcess } from './cli_process';
import { kernelPath, type KernelName } from './kernels';

export interface GdbResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs gdb in batch mode with the given -ex commands; resolves with what it printed. */
export function runGdb(file: string, commands: string[], timeoutMs = 60000): Promise<GdbResult> {
  const args = ['-nx', '-batch', '-ex', 'set pagination off', '-ex', 'set confirm off'];
  for (const command of commands) args.push('-ex', command);
  args.push(file);
  return new Promise((resolve) => {
    execFile('gdb', args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ stdout, stderr, code });
    });
  });
}

/**
 * A command as if typed at the prompt. Batch mode runs `-ex` commands with
 * from_tty off, and some commands then print less: `finish` leaves out its
 * "Run till exit from #0 ..." line.
 */
export function asTyped(command: string): string {
  return `python gdb.execute(${JSON.stringify(command)}, from_tty=True)`;
}

/** gdb's stderr holds no error and no warning (but the usual "No executable" one). */
export function expectNoGdbErrors(gdb: GdbResult): void {
  expect(gdb.stderr).not.toMatch(/error|warning: (?!.*No executable)/i);
}

/** The value column of `info registers NAME` (the first hex number), in the order printed. */
export function registerValues(stdout: string, name: string): bigint[] {
  const values = [...stdout.matchAll(new RegExp(`^${name}\\s+(0x[0-9a-f]+)`, 'gm'))].map((m) =>
    BigInt(m[1]!),
  );
  if (values.length === 0) throw new Error(`no register ${name} in:\n${stdout}`);
  return values;
}

/** The first value `info registers NAME` printed. */
export function registerValue(stdout: string, name: string): bigint {
  return registerValues(stdout, name)[0]!;
}

/** What each `print` showed (`$N = <this>`), in order. */
export function printed(stdout: string): string[] {
  return [...stdout.matchAll(/^\$\d+ = (.*)$/gm)].map((m) => m[1]!);
}

/** The bytes an `x/Nxb &sym` dump showed, from lines labelled `<sym>` or `<sym+n>`. */
export function examinedBytes(stdout: string, sym: string): number[] {
  const lines = stdout.matchAll(
    new RegExp(`<${sym}(?:\\+\\d+)?>:[ \\t]+((?:0x[0-9a-f]{2}[ \\t]*)+)`, 'g'),
  );
  return [...lines].flatMap((m) =>
    m[1]!
      .trim()
      .split(/\s+/)
      .map((b) => Number(b)),
  );
}

export interface Disassembled {
  address: bigint;
  text: string;
}

/** The instructions an `x/Ni $pc` showed (the `=>` line first). */
export function examinedInstructions(stdout: string): Disassembled[] {
  return [...stdout.matchAll(/^(?:=>)?\s+(0x[0-9a-f]+)(?: <[^>]+>)?:\s+(\S.*)$/gm)].map((m) => ({
    address: BigInt(m[1]!),
    text: m[2]!.trim(),
  }));
}

export interface StubOptions {
  kernel: KernelName;
  /** More `vmm-gdbstub run` arguments (`--wait`, `--cpus 4`, `--trace-rsp`, ...). */
  args?: string[];
  /** Wait for this on COM1 (the CLI's stdout) before resolving. */
  ready?: RegExp;
}

/** A `vmm-gdbstub run` with its gdb server up. */
export interface Stub {
  cli: CliProcess;
  port: number;
  /** `target remote 127.0.0.1:<port>`. */
  target: string;
  /** Runs gdb in batch mode on the kernel's ELF file, within the backend's timeout. */
  gdb(commands: string[]): Promise<GdbResult>;
}

/**
 * Returns a function that starts `vmm-gdbstub run <kernel> --backend <name>`
 * with a gdb server on a free loopback port. Every stub it started is stopped
 * after each test.
 */
export function stubLauncher(backend: TestBackend): (options: StubOptions) => Promise<Stub> {
  const running: CliProcess[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((cli) => cli.stop()));
  });
  // Half the test's time for booting leaves the other half to gdb.
  const waitMs = backend.timeoutMs / 2;
  return async ({ kernel, args = [], ready }) => {
    const cli = startCli([
      'run',
      kernelPath(kernel),
      '--backend',
      backend.name,
      '--gdb',
      '127.0.0.1:0',
      ...args,
    ]);
    running.push(cli);
    const [, port] = await cli.waitFor('stderr', /gdb server on 127\.0\.0\.1:(\d+)/, waitMs);
    if (ready !== undefined) await cli.waitFor('stdout', ready, waitMs);
    return {
      cli,
      port: Number(port),
      target: `target remote 127.0.0.1:${port}`,
      gdb: (commands) => runGdb(kernelPath(kernel), commands, waitMs),
    };
  };
}
