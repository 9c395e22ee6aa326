import { execFile, execFileSync } from 'node:child_process';

export interface LldbResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Whether an `lldb` is on PATH (CI installs Debian's, lldb 14). */
export function lldbInstalled(): boolean {
  try {
    execFileSync('lldb', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs lldb in batch mode on `file` with the given -o commands; resolves with
 * what it printed. Batch mode stops at the first command that fails, and
 * lldb then kills (`k`) a process it is still attached to: put `detach` last
 * and anything that may fail in a session of its own.
 */
export function runLldb(file: string, commands: string[], timeoutMs = 60000): Promise<LldbResult> {
  const args = ['--no-lldbinit', '-b', file];
  for (const command of commands) args.push('-o', command);
  return new Promise((resolve) => {
    execFile('lldb', args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ stdout, stderr, code });
    });
  });
}
