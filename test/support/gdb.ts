import { execFile } from 'node:child_process';

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
