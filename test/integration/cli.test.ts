import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { kernelPath } from '../support/kernels';
import { CLI, startCli, type CliProcess } from '../support/cli_process';
import { USAGE } from '../../lib/cli/args';

let cli: CliProcess | undefined;
afterEach(async () => {
  await cli?.stop();
  cli = undefined;
});

describe('vmm-gdbstub run', () => {
  it('boots a kernel on emu and prints its COM1 line on stdout', async () => {
    cli = startCli(['run', kernelPath('up'), '--backend', 'emu']);
    await cli.waitFor('stdout', /vmm-gdbstub test kernel: up ok\n/);
    expect(cli.stderr()).toMatch(/backend emu \(emu requested\)/);
    expect(await cli.stop()).toBe(143);
  });

  it('says which backend auto picked and why, in one line', async () => {
    cli = startCli(['run', kernelPath('up')]);
    const [line] = await cli.waitFor('stderr', /vmm-gdbstub: backend \w+ \([^\n]+\)\n/);
    expect(line).toMatch(/backend (emu|kvm) /);
    await cli.waitFor('stdout', /up ok/);
  });

  it('writes COM1 to a file with --serial file:PATH', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmm-serial-'));
    const file = path.join(dir, 'com1.txt');
    cli = startCli(['run', kernelPath('up'), '--backend', 'emu', '--serial', `file:${file}`]);
    await cli.waitFor('stderr', /backend emu/);
    for (let i = 0; i < 100 && !/up ok/.test(readOr(file)); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(readOr(file)).toMatch(/vmm-gdbstub test kernel: up ok\n/);
    expect(cli.stdout()).toBe('');
    await cli.stop();
    fs.rmSync(dir, { recursive: true });
  });

  it('prints the gdb and lldb commands to connect, and waits with --wait', async () => {
    cli = startCli(['run', kernelPath('up'), '--backend', 'emu', '--gdb', '127.0.0.1:0', '--wait']);
    await cli.waitFor('stderr', /lldb .*gdb-remote 127\.0\.0\.1:\d+/);
    expect(cli.stderr()).toMatch(/gdb .*up\.elf -ex 'target remote 127\.0\.0\.1:\d+'/);
    await new Promise((r) => setTimeout(r, 200));
    expect(cli.stdout()).toBe(''); // vCPU 0 is held before its first instruction
  });
});

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

async function failure(args: string[]): Promise<{ code: number; stderr: string }> {
  const proc = startCli(args);
  const code = await proc.exited;
  return { code, stderr: proc.stderr() };
}

describe('vmm-gdbstub run errors: one clear line and a non-zero exit', () => {
  it('no such file', async () => {
    const { code, stderr } = await failure(['run', '/nonexistent/kernel.elf', '--backend', 'emu']);
    expect(code).toBe(1);
    expect(stderr).toBe('vmm-gdbstub: /nonexistent/kernel.elf: no such file\n');
  });

  it('not a kernel', async () => {
    const { code, stderr } = await failure(['run', __filename, '--backend', 'emu']);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/not a kernel|no ELF|Multiboot/i);
  });

  it('memory too small for the image', async () => {
    const { code, stderr } = await failure(['run', kernelPath('up'), '--memory', '1M']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--memory must be/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmm-big-'));
    // A raw Multiboot kernel (flag 16) that loads 3 MiB at 1 MiB.
    const image = Buffer.alloc(64);
    image.writeUInt32LE(0x1badb002, 0);
    image.writeUInt32LE(0x00010000, 4);
    image.writeUInt32LE(-(0x1badb002 + 0x00010000) >>> 0, 8);
    image.writeUInt32LE(0x100000, 12); // header_addr
    image.writeUInt32LE(0x100000, 16); // load_addr
    image.writeUInt32LE(0, 20); // load_end_addr: whole file
    image.writeUInt32LE(0x400000, 24); // bss_end_addr
    image.writeUInt32LE(0x100020, 28); // entry_addr
    fs.writeFileSync(path.join(dir, 'big.bin'), image);
    const tooSmall = await failure([
      'run',
      path.join(dir, 'big.bin'),
      '--memory',
      '2M',
      '--backend',
      'emu',
    ]);
    expect(tooSmall.code).toBe(1);
    expect(tooSmall.stderr).toMatch(/^vmm-gdbstub: .*memory too small for the image[^\n]*\n$/);
    fs.rmSync(dir, { recursive: true });
  });

  it('port in use', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const { code, stderr } = await failure([
      'run',
      kernelPath('up'),
      '--backend',
      'emu',
      '--gdb',
      `127.0.0.1:${port}`,
    ]);
    server.close();
    expect(code).toBe(1);
    expect(stderr).toMatch(
      new RegExp(
        `\\nvmm-gdbstub: cannot listen on 127\\.0\\.0\\.1:${port}: address in use \\(something listens there already: choose another --gdb address\\)\\n$`,
      ),
    );
  });

  it('a Unix socket in a missing directory names the directory', async () => {
    const { code, stderr } = await failure([
      'run',
      kernelPath('up'),
      '--backend',
      'emu',
      '--gdb',
      'unix:/nonexistent/dir/sock',
    ]);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /\nvmm-gdbstub: cannot listen on \/nonexistent\/dir\/sock: no directory \/nonexistent\/dir\n$/,
    );
  });

  it('COM1 to a file in a missing directory: one line, before anything runs', async () => {
    const { code, stderr } = await failure([
      'run',
      kernelPath('up'),
      '--serial',
      'file:/nonexistent/dir/out',
    ]);
    expect(code).toBe(1);
    expect(stderr).toBe(
      'vmm-gdbstub: --serial file:/nonexistent/dir/out: no directory /nonexistent/dir (create it, or write COM1 elsewhere)\n',
    );
  });

  it('--backend kvm where /dev/kvm does not open: one line saying what to do', async () => {
    // As root /dev/kvm may open: the stub then runs as nobody, who may not open it.
    const asNobody =
      process.getuid?.() === 0
        ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
        : [];
    const probe = spawnSync(
      ...command(asNobody, ['-e', "require('fs').openSync('/dev/kvm','r+')"]),
    );
    if (probe.status === 0) {
      console.log('SKIP: /dev/kvm opens for the user the stub runs as');
      return;
    }
    const [file, args] = command(asNobody, [CLI, 'run', kernelPath('up'), '--backend', 'kvm']);
    const result = spawnSync(file, args, { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /^vmm-gdbstub: the kvm backend needs \/dev\/kvm, which does not open \(E[A-Z]+\): use --backend emu, or get read-write access to \/dev\/kvm\n$/,
    );
  });
});

/** `node ARGS`, run through `prefix` (a command that runs another) when there is one. */
function command(prefix: string[], args: string[]): [string, string[]] {
  return prefix.length > 0
    ? [prefix[0]!, [...prefix.slice(1), process.execPath, ...args]]
    : [process.execPath, args];
}

describe('vmm-gdbstub usage, --help, --version and bugs', () => {
  it('a bare command prints the usage on stderr and exits 2', () => {
    const result = spawnSync(process.execPath, [CLI], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(USAGE);
  });

  it('--help prints the usage on stdout and exits 0', () => {
    expect(execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' })).toBe(USAGE);
  });

  it("--version prints the package's version", () => {
    const { version } = JSON.parse(
      fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'),
    ) as { version: string };
    expect(execFileSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' })).toBe(
      `vmm-gdbstub ${version}\n`,
    );
  });

  it.each([
    [['run', 'k.elf', '--bogus'], 'unknown option --bogus (see vmm-gdbstub --help)'],
    [['run', 'k.elf', '--gdb'], '--gdb needs a value: --gdb HOST:PORT | unix:PATH'],
    [['run', 'k.elf', '--memory', '4G'], '--memory must be a size from 2M to 3G, not "4G"'],
    [['frobnicate'], 'unknown command "frobnicate": vmm-gdbstub run <kernel> [options]'],
  ])('%j is one line on stderr and exit 2', (args, line) => {
    const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(`vmm-gdbstub: ${line}\n`);
  });

  it('a bug prints its stack and asks for a report, exit 70', () => {
    // A JSON.parse that throws makes --version fail as a bug would.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmm-bug-'));
    const preload = path.join(dir, 'break.js');
    fs.writeFileSync(preload, "JSON.parse = () => { throw new TypeError('injected'); };\n");
    const result = spawnSync(process.execPath, ['--require', preload, CLI, '--version'], {
      encoding: 'utf8',
    });
    fs.rmSync(dir, { recursive: true });
    expect(result.status).toBe(70);
    expect(result.stderr).toMatch(/^vmm-gdbstub: internal error: TypeError: injected\n\s+at /);
    expect(result.stderr).toMatch(
      /\nvmm-gdbstub: this is a bug in vmm-gdbstub; please report it with the lines above\n$/,
    );
  });

  it('a bad option is a usage error (exit 2)', async () => {
    const { code, stderr } = await failure(['run', kernelPath('up'), '--cpus', 'many']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^vmm-gdbstub: --cpus must be/);
  });
});
