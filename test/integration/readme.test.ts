import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCli, type CliProcess } from '../support/cli_process';
import { asTyped } from '../support/gdb';
import { ROOT } from '../support/kernels';

// The README's gdb session, replayed as written: `npm start`'s command (on a
// free port instead of 1234) and each `(gdb)` line typed into real gdb; what
// gdb prints after each command must be the README's lines, where `...`
// stands for any text and runs of blanks compare equal. The test fails if
// gdb is missing: CI installs it.

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const PORT_IN_README = '127.0.0.1:1234';

interface Step {
  command: string;
  output: string[];
}

/** The block after `<!-- gdb-session ... -->`: each `(gdb) ` line and the lines it printed. */
function readmeSession(readme: string): Step[] {
  const marker = readme.indexOf('<!-- gdb-session');
  if (marker < 0) throw new Error('README.md has no <!-- gdb-session --> block');
  const block = /```\n([\s\S]*?)\n```/.exec(readme.slice(marker));
  if (block === null) throw new Error('no code block after <!-- gdb-session -->');
  const steps: Step[] = [];
  for (const line of block[1]!.split('\n')) {
    if (line.startsWith('(gdb) ')) steps.push({ command: line.slice(6), output: [] });
    else if (steps.length === 0) throw new Error(`output before the first command: ${line}`);
    else steps.at(-1)!.output.push(line);
  }
  return steps;
}

const normal = (line: string) => line.replace(/\s+/g, ' ').trim();

/** Whether gdb's line is the README's, `...` matching any text. */
function sameLine(readmeLine: string, gdbLine: string): boolean {
  const pattern = normal(readmeLine)
    .split('...')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${pattern}$`).test(normal(gdbLine));
}

/** Runs gdb in batch mode, each command as typed, with a marker line before each; stdout and stderr in order. */
function replay(file: string, commands: string[]): Promise<string[][]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmm-readme-'));
  const log = path.join(dir, 'gdb.txt');
  const fd = fs.openSync(log, 'w');
  const args = ['-nx', '-batch', '-ex', 'set pagination off', '-ex', 'set confirm off'];
  commands.forEach((command, i) =>
    args.push('-ex', `echo @@step ${i}\\n`, '-ex', asTyped(command)),
  );
  args.push(file);
  return new Promise((resolve, reject) => {
    const gdb = spawn('gdb', args, { stdio: ['ignore', fd, fd] });
    gdb.on('error', reject); // no gdb: the test fails
    gdb.on('exit', () => {
      fs.closeSync(fd);
      const text = fs.readFileSync(log, 'utf8');
      fs.rmSync(dir, { recursive: true });
      const outputs: string[][] = [];
      for (const line of text.split('\n')) {
        const step = /^@@step (\d+)$/.exec(line);
        if (step) outputs[Number(step[1])] = [];
        else if (outputs.length > 0 && normal(line) !== '') outputs.at(-1)!.push(line);
      }
      resolve(outputs);
    });
  });
}

describe('README.md', () => {
  let cli: CliProcess | undefined;
  afterEach(async () => {
    await cli?.stop();
  });

  it('reads a session of commands and outputs, and matches lines with ... as any text', () => {
    const steps = readmeSession(README);
    expect(steps[0]!.command).toBe(`target remote ${PORT_IN_README}`);
    expect(steps.length).toBeGreaterThan(10);
    expect(sameLine('_start () at .../entry32.S:31', '_start () at /a/b/entry32.S:31')).toBe(true);
    expect(sameLine('31\tcli', '31  cli')).toBe(true);
    expect(sameLine('Value returned is $1 = 0', 'Value returned is $1 = 1')).toBe(false);
  });

  it('the gdb session runs as shown against `npm start`', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const start = pkg.scripts.start!.split(' ');
    expect(start.slice(0, 2)).toEqual(['node', 'dist/cli.js']);
    expect(start).toContain(PORT_IN_README);
    // npm start's own arguments, with a free port instead of 1234.
    const args = start
      .slice(2)
      .map((arg) => (arg === PORT_IN_README ? '127.0.0.1:0' : arg))
      .map((arg) => (arg.endsWith('.elf') ? path.join(ROOT, arg) : arg));
    cli = startCli(args);
    const [, port] = await cli.waitFor('stderr', /gdb server on 127\.0\.0\.1:(\d+)/);
    const kernel = args.find((arg) => arg.endsWith('.elf'))!;

    const steps = readmeSession(README.replaceAll(PORT_IN_README, `127.0.0.1:${port}`));
    const outputs = await replay(
      kernel,
      steps.map((s) => s.command),
    );
    for (const [i, step] of steps.entries()) {
      const got = outputs[i] ?? [];
      const wanted = step.output.filter((line) => normal(line) !== '');
      const same = got.length === wanted.length && wanted.every((w, j) => sameLine(w, got[j]!));
      // On a mismatch, show both sides for this command.
      expect({ command: step.command, output: same ? wanted : got }).toEqual({
        command: step.command,
        output: wanted,
      });
    }
    // The guest saw what gdb wrote.
    await cli.waitFor('stdout', /vmm-gdbstub test kernel: test_var=7\n/);
  }, 120000);
});
