import {
  isLocalAddress,
  OPTIONS,
  parseCommandLine,
  parseListenAddress,
  parseSize,
  USAGE,
  UsageError,
} from '../../../lib/cli/args';

describe('parseSize', () => {
  it.each([
    ['512M', 512 * 1024 * 1024],
    ['1G', 1024 ** 3],
    ['64k', 65536],
    ['4096', 4096],
    ['2MiB', 2 * 1024 * 1024],
  ])('parses %s', (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it.each(['', 'M', '1.5G', '-1M', '12Q'])('refuses %j', (text) => {
    expect(parseSize(text)).toBeUndefined();
  });
});

describe('parseListenAddress', () => {
  it('defaults the host to 127.0.0.1', () => {
    expect(parseListenAddress(':1234')).toEqual({ host: '127.0.0.1', port: 1234 });
    expect(parseListenAddress('1234')).toEqual({ host: '127.0.0.1', port: 1234 });
  });
  it('takes a host and a port, IPv6 in brackets', () => {
    expect(parseListenAddress('0.0.0.0:9')).toEqual({ host: '0.0.0.0', port: 9 });
    expect(parseListenAddress('[::1]:1234')).toEqual({ host: '::1', port: 1234 });
  });
  it('takes a Unix socket path', () => {
    expect(parseListenAddress('unix:/tmp/gdb.sock')).toEqual({ path: '/tmp/gdb.sock' });
  });
  it.each(['unix:', 'host:', 'host:99999', 'a:b'])('refuses %j', (text) => {
    expect(parseListenAddress(text)).toBeUndefined();
  });
});

describe('isLocalAddress', () => {
  it.each([
    '127.0.0.1',
    '127.1.2.3',
    '::1',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
    'localhost',
    'LocalHost.',
  ])('takes %j as local', (host) => expect(isLocalAddress({ host, port: 1234 })).toBe(true));
  it.each(['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', '128.0.0.1', 'fe80::1', 'example.com', ''])(
    'takes %j as reachable from other machines',
    (host) => expect(isLocalAddress({ host, port: 1234 })).toBe(false),
  );
  it('takes a Unix socket as local', () => {
    expect(isLocalAddress({ path: '/tmp/gdb.sock' })).toBe(true);
  });
});

describe('parseCommandLine', () => {
  it('fills the defaults', () => {
    expect(parseCommandLine(['run', 'k.elf'])).toEqual({
      command: 'run',
      options: {
        kernel: 'k.elf',
        backend: 'auto',
        wait: false,
        memoryBytes: 512 * 1024 * 1024,
        cpus: 1,
        serial: { kind: 'stdio' },
        cmdline: '',
        vcpuPriority: 'normal',
      },
    });
  });

  it('reads every option', () => {
    const invocation = parseCommandLine([
      'run',
      'k.elf',
      '--backend',
      'emu',
      '--gdb',
      'unix:/tmp/s',
      '--wait',
      '--memory',
      '64M',
      '--cpus',
      '4',
      '--serial',
      'file:/tmp/out',
      '--cmdline',
      'cpus=4',
      '--vcpu-priority',
      'idle',
      '--trace-rsp',
    ]);
    expect(invocation).toEqual({
      command: 'run',
      options: {
        kernel: 'k.elf',
        backend: 'emu',
        gdb: { path: '/tmp/s' },
        wait: true,
        memoryBytes: 64 * 1024 * 1024,
        cpus: 4,
        serial: { kind: 'file', path: '/tmp/out' },
        cmdline: 'cpus=4',
        vcpuPriority: 'idle',
        traceRsp: true,
      },
    });
  });

  it("takes --append as --cmdline, QEMU's name for it", () => {
    const invocation = parseCommandLine(['run', 'bzImage', '--append', 'console=ttyS0']);
    expect(invocation.command === 'run' && invocation.options.cmdline).toBe('console=ttyS0');
  });

  it('takes the last of --append and --cmdline, as for any option given twice', () => {
    const both = parseCommandLine(['run', 'k', '--append', 'a', '--cmdline', 'b']);
    expect(both.command === 'run' && both.options.cmdline).toBe('b');
    const reversed = parseCommandLine(['run', 'k', '--cmdline', 'b', '--append', 'a']);
    expect(reversed.command === 'run' && reversed.options.cmdline).toBe('a');
  });

  it('passes --initrd through and leaves it out when not given', () => {
    const withInitrd = parseCommandLine(['run', 'bzImage', '--initrd', '/tmp/initrd.gz']);
    expect(withInitrd.command === 'run' && withInitrd.options.initrd).toBe('/tmp/initrd.gz');
    const without = parseCommandLine(['run', 'bzImage']);
    expect(without.command === 'run' && 'initrd' in without.options).toBe(false);
  });

  it('leaves traceRsp out unless --trace-rsp is given', () => {
    const invocation = parseCommandLine(['run', 'k.elf', '--gdb', ':1234']);
    expect(invocation.command === 'run' && 'traceRsp' in invocation.options).toBe(false);
  });

  it('asks for the usage (exit 2) without arguments, help with --help or -h, the version with --version', () => {
    expect(parseCommandLine([])).toEqual({ command: 'usage' });
    expect(parseCommandLine(['--help'])).toEqual({ command: 'help' });
    expect(parseCommandLine(['-h'])).toEqual({ command: 'help' });
    expect(parseCommandLine(['run', 'k', '--help'])).toEqual({ command: 'help' });
    expect(parseCommandLine(['--version'])).toEqual({ command: 'version' });
  });

  it('lists every option of the table in the usage, with its value', () => {
    for (const spec of OPTIONS) {
      const head = `--${spec.name}${spec.value !== undefined ? ` ${spec.value}` : ''}`;
      expect(USAGE).toContain(head);
    }
  });

  it.each([
    [['frobnicate'], 'unknown command "frobnicate": vmm-gdbstub run <kernel> [options]'],
    [['--wait'], 'no command: vmm-gdbstub run <kernel> [options]'],
    [['run'], 'run needs a kernel image: vmm-gdbstub run <kernel> [options]'],
    [['run', 'k', 'extra'], 'unexpected argument "extra": run takes one kernel image'],
    [['run', 'k', '--gdb'], '--gdb needs a value: --gdb HOST:PORT | unix:PATH'],
    [['run', 'k', '--gdb', '--wait'], '--gdb needs a value: --gdb HOST:PORT | unix:PATH'],
    [['run', 'k', '--memory'], '--memory needs a value: --memory SIZE'],
    [['run', 'k', '--wait=yes'], '--wait takes no value'],
    [['run', 'k', '--bogus'], 'unknown option --bogus (see vmm-gdbstub --help)'],
    [['run', 'k', '-x'], 'unknown option -x (see vmm-gdbstub --help)'],
    [['run', 'k', '--backend', 'qemu'], /--backend must be/],
    [['run', 'k', '--memory', '1M'], /--memory must be/],
    [['run', 'k', '--memory', '8G'], '--memory must be a size from 2M to 3G, not "8G"'],
    [['run', 'k', '--cpus', '0'], /--cpus must be/],
    [['run', 'k', '--cpus', '65'], /--cpus must be/],
    [['run', 'k', '--serial', 'tty'], /--serial must be/],
    [['run', 'k', '--gdb', 'nope:x'], /--gdb must be/],
    [['run', 'k', '--wait'], /--wait needs --gdb/],
    [['run', 'k', '--trace-rsp'], /--trace-rsp needs --gdb/],
    [['run', 'k', '--vcpu-priority', 'high'], /--vcpu-priority must be/],
  ])('refuses %j with one clear line', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(UsageError);
    expect(() => parseCommandLine(argv)).toThrow(message);
    let error: unknown;
    try {
      parseCommandLine(argv);
    } catch (e) {
      error = e;
    }
    expect((error as Error).message).not.toMatch(/\n/);
  });
});
