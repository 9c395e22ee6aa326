import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Real gdb driven as a user drives it: on a terminal (util-linux `script`
 * gives it a pty, so it prompts and prints each line as it comes), commands
 * typed one at a time, Ctrl-C typed to interrupt. Not batch mode, so that a
 * run can be stopped once enough output was seen.
 */
export class InteractiveGdb {
  private readonly child: ChildProcess;
  private output = '';
  private readonly waiters: (() => void)[] = [];
  private exited = false;

  /** `cwd`: where gdb runs (a core file it may leave lands there, not in the checkout). */
  constructor(elf: string, cwd: string) {
    const gdb = `gdb -q -nx -nw -iex 'set pagination off' -iex 'set confirm off' -iex 'set width 0' -iex 'set style enabled off' ${elf}`;
    this.child = spawn('script', ['-qfec', gdb, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd,
      env: { ...process.env, TERM: 'dumb' }, // no colours, no bracketed-paste sequences
    });
    const take = (data: Buffer) => {
      this.output += data.toString('latin1');
      for (const wake of this.waiters.splice(0)) wake();
    };
    this.child.stdout!.on('data', take);
    this.child.stderr!.on('data', take);
    this.child.once('exit', () => {
      this.exited = true;
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Everything gdb printed so far. */
  get text(): string {
    return this.output;
  }

  send(command: string): void {
    this.child.stdin!.write(command + '\n');
  }

  /** Ctrl-C at gdb's terminal: gdb interrupts the running target. */
  interrupt(): void {
    this.child.stdin!.write('\x03');
  }

  /**
   * Waits until gdb's output from `from` on holds `pattern` (or `count` matches of it).
   * Complete lines are scanned once (a run of 500 dprintf lines arrives in
   * dozens of chunks; matching all of it again at each would make this
   * process compete with gdb and the stub for the CPU it measures); only the
   * unfinished last line is matched again. `pattern` must not span lines.
   */
  async waitFor(pattern: RegExp, timeoutMs: number, from = 0, count = 1): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    const global = new RegExp(
      pattern.source,
      pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g',
    );
    let scanned = from;
    let counted = 0;
    for (;;) {
      const lastNewline = this.output.lastIndexOf('\n');
      if (lastNewline >= scanned) {
        counted += this.output.slice(scanned, lastNewline + 1).match(global)?.length ?? 0;
        scanned = lastNewline + 1;
      }
      const matches = counted + (this.output.slice(scanned).match(global)?.length ?? 0);
      if (matches >= count) return performance.now();
      if (this.exited) throw new Error(`gdb exited before ${pattern}: ${this.output.slice(-300)}`);
      const left = deadline - performance.now();
      if (left <= 0)
        throw new Error(
          `gdb: no ${pattern} (x${count}) in ${timeoutMs} ms: ${this.output.slice(-300)}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends a command and waits for gdb's prompt after it. */
  async run(command: string, timeoutMs = 10000): Promise<string> {
    const from = this.output.length;
    this.send(command);
    await this.waitFor(/\(gdb\) $/, timeoutMs, from);
    return this.output.slice(from);
  }

  async quit(): Promise<void> {
    if (this.exited) return;
    this.child.stdin!.end('detach\nquit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await new Promise<void>((resolve) =>
      this.exited ? resolve() : this.child.once('exit', () => resolve()),
    );
    clearTimeout(timer);
  }
}
