import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { kernelPath } from '../support/kernels';
import { startCli, type CliProcess } from '../support/cli_process';

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

describe('vmm-gdbstub run errors: one clear line and a non-zero exit', () => {
  async function failure(args: string[]): Promise<{ code: number; stderr: string }> {
    const proc = startCli(args);
    const code = await proc.exited;
    return { code, stderr: proc.stderr() };
  }

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
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: address in use\\n$`),
    );
  });

  it('a bad option is a usage error (exit 2)', async () => {
    const { code, stderr } = await failure(['run', kernelPath('up'), '--cpus', 'many']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^vmm-gdbstub: --cpus must be/);
  });
});
