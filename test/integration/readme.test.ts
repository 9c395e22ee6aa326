import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCli, type CliProcess } from '../support/cli_process';
import { asTyped, runGdb } from '../support/gdb';
import { kernelPath, ROOT } from '../support/kernels';

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

  it("the TypeScript example compiles under the package's own tsconfig and runs", async () => {
    const marker = README.indexOf('<!-- api-example');
    expect(marker).toBeGreaterThan(0);
    const example = /```ts\n([\s\S]*?)\n```/.exec(README.slice(marker))![1]!;
    // A project beside the package: vmm-gdbstub resolves to this clone, built.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmm-api-'));
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'vmm-gdbstub'), 'dir');
    fs.writeFileSync(path.join(dir, 'example.ts'), example);
    fs.copyFileSync(kernelPath('up'), path.join(dir, 'kernel.elf'));
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: path.join(ROOT, 'tsconfig.json'),
        compilerOptions: {
          rootDir: '.',
          outDir: 'out',
          typeRoots: [path.join(ROOT, 'node_modules', '@types')],
        },
        include: ['example.ts'],
      }),
    );
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
    } catch (error) {
      throw new Error(
        `the README example does not compile:\n${(error as { stdout: string }).stdout}`,
      );
    }
    // Run it as shown but on a free port.
    expect(example.split('port: 1234').length).toBe(2);
    const js = path.join(dir, 'out', 'example.js');
    const compiled = fs.readFileSync(js, 'utf8');
    fs.writeFileSync(js, compiled.replace('port: 1234', 'port: 0'));
    const child = spawn(process.execPath, [js], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const until = async (pattern: RegExp) => {
        for (let i = 0; i < 600 && !pattern.test(stdout); i++) {
          if (child.exitCode !== null) throw new Error(`the example exited:\n${stdout}${stderr}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        return pattern.exec(stdout);
      };
      // 'running': the guest boots without a debugger.
      const port = (await until(/gdb server on 127\.0\.0\.1:(\d+)\n/))![1]!;
      expect(await until(/vmm-gdbstub test kernel: up ok\n/)).not.toBeNull();
      const gdb = await runGdb(kernelPath('up'), [
        `target remote 127.0.0.1:${port}`,
        'break add_numbers',
        'continue',
        'detach',
      ]);
      expect(gdb.stdout).toMatch(/Breakpoint 1, add_numbers /);
      expect(gdb.stdout).toMatch(/\[Inferior 1 \(Remote target\) detached\]/);
      expect(stderr).toBe('');
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120000);
});
