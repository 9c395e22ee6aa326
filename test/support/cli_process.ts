import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { ROOT } from './kernels';

export const CLI = path.join(ROOT, 'dist', 'cli.js');

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout or stderr (as chosen) matches; rejects on timeout or exit. */
  waitFor(
    stream: 'stdout' | 'stderr',
    pattern: RegExp,
    timeoutMs?: number,
  ): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or 128 + signal number). */
  exited: Promise<number>;
  stop(): Promise<number>;
}

const SIGNALS: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/**
 * Starts `node dist/cli.js ...args` (built by `npm run build:ts`); with
 * `stdin: 'pipe'` the test writes the CLI's standard input (child.stdin).
 */
export function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  stdin: 'ignore' | 'pipe' = 'ignore',
): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: [stdin, 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  const listeners: (() => void)[] = [];
  // Each pending check runs once per event, and registers itself again while unmatched.
  const notify = () => listeners.splice(0).forEach((l) => l());
  child.stdout!.on('data', (d: Buffer) => ((out.stdout += d.toString()), notify()));
  child.stderr!.on('data', (d: Buffer) => ((out.stderr += d.toString()), notify()));
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(code ?? 128 + (SIGNALS[signal ?? ''] ?? 0));
      notify();
    });
  });
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    exited,
    waitFor(stream, pattern, timeoutMs = 20000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(
              `no ${pattern} on ${stream} in ${timeoutMs} ms:\n${out[stream]}\n${out.stderr}`,
            ),
          );
        }, timeoutMs);
        const check = () => {
          const match = out[stream].match(pattern);
          if (match) {
            clearTimeout(timer);
            resolve(match);
          } else if (done) {
            clearTimeout(timer);
            reject(
              new Error(`exited before ${pattern} on ${stream}:\n${out.stdout}\n${out.stderr}`),
            );
          } else {
            listeners.push(check);
          }
        };
        check();
      });
    },
    async stop() {
      if (!done) child.kill('SIGTERM');
      return exited;
    },
  };
}
