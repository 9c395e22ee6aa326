import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { KERNEL_DIR, ROOT } from '../support/kernels';

// What a user gets from the registry: `npm pack`'s tarball, installed as a
// dependency on a machine without a compiler, where only the prebuilt addons
// can work. Slow-ish (it builds, packs and installs), so everything happens
// once, in order.

// Generous: a stale native build is rebuilt, and the install may fetch
// node-gyp-build and node-addon-api from the registry.
const TIMEOUT_MS = 300_000;
const COM1_LINE = 'vmm-gdbstub test kernel: up ok';
const TUPLE = `${process.platform}-${process.arch}`;
const PREBUILDS = [
  `addons/core/prebuilds/${TUPLE}/vmm_core.napi.node`,
  `addons/emu/prebuilds/${TUPLE}/vmm_emu.napi.node`,
];
const COMPILERS = ['cc', 'c++', 'gcc', 'g++', 'clang', 'make', 'cmake', 'ninja', 'python3'];
// Environment the install and the CLI keep; everything else (npm_* of an
// enclosing `npm test`, PATH) is dropped.
const KEPT_ENV = [
  'HOME',
  'USER',
  'LANG',
  'TMPDIR',
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'npm_config_registry',
];

const execFileAsync = promisify(execFile);

async function run(
  file: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileAsync(file, args, { ...options, encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch (error) {
    // The message holds the command and its stderr.
    const { stdout = '' } = error as { stdout?: string };
    throw new Error(`${(error as Error).message}\n--- stdout\n${stdout}`);
  }
}

/** The real file behind a command on this process's PATH. */
function whichReal(command: string): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return fs.realpathSync(candidate);
    } catch {
      // not here
    }
  }
  throw new Error(`${command} is not on PATH`);
}

/** A bin folder holding only node, npm, npx and sh (npm runs scripts with sh). */
function compilerlessBin(dir: string): string {
  fs.mkdirSync(dir);
  const tools: Record<string, string> = {
    node: process.execPath,
    npm: whichReal('npm'),
    npx: whichReal('npx'),
    sh: fs.realpathSync('/bin/sh'),
  };
  for (const [name, target] of Object.entries(tools)) fs.symlinkSync(target, path.join(dir, name));
  return dir;
}

describe('the npm pack tarball', () => {
  let scratch: string;
  let tarball: string;
  let packed: string[];
  let app: string;
  let env: NodeJS.ProcessEnv;
  let bin: string;
  let installed = false;
  let cliPid: number | undefined;
  let cliClosed = false;

  beforeAll(async () => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vmm-packed-'));
    // One build at a time: the addons' prebuilds, dist/, the kernels.
    await run('npm', ['run', 'prebuild'], { cwd: ROOT });
    await run('npm', ['run', 'build:ts'], { cwd: ROOT });
    await run('npm', ['run', 'build:kernels'], { cwd: ROOT });
    // dist/ was just built, so npm pack's own "prepare" (tsc again) is skipped.
    const pack = await run(
      'npm',
      ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch],
      { cwd: ROOT },
    );
    const [info] = JSON.parse(pack.stdout) as {
      filename: string;
      files: { path: string }[];
    }[];
    tarball = path.join(scratch, info!.filename);
    packed = info!.files.map((f) => f.path);

    bin = compilerlessBin(path.join(scratch, 'bin'));
    env = { PATH: bin };
    for (const name of KEPT_ENV) if (process.env[name] !== undefined) env[name] = process.env[name];
    app = path.join(scratch, 'app');
    fs.mkdirSync(app);
  }, TIMEOUT_MS);

  afterAll(() => {
    // Only if the CLI test failed before the CLI was gone: its process group.
    if (cliPid !== undefined && !cliClosed) {
      try {
        process.kill(-cliPid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('carries dist/, both prebuilt addons, the kernels, licences and the install scripts, and no build trees or native sources', () => {
    const kernels = fs
      .readdirSync(KERNEL_DIR)
      .filter((f) => f.endsWith('.elf'))
      .map((f) => `test/fixtures/guest/bin/${f}`);
    expect(kernels).toContain('test/fixtures/guest/bin/up.elf');
    expect(packed).toEqual(
      expect.arrayContaining([
        'package.json',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/cli.js',
        'dist/vmm/addon.js',
        ...PREBUILDS,
        ...kernels,
        'LICENSE',
        'LICENSE.GPL-2.0',
        'addons/core/LICENSE',
        'addons/emu/LICENSE',
        'scripts/install.js',
        'scripts/addons.js',
      ]),
    );
    const unwanted = packed.filter((f) =>
      /(^|\/)(build|build-cmake|build-unicorn|node_modules|third_party|native|obj)\/|\.(tgz|tar\.gz|cc|h|c|S|o|d|gyp)$|CMakeLists\.txt$/.test(
        f,
      ),
    );
    expect(unwanted).toEqual([]);
  });

  it(
    'installs as a dependency with no compiler on PATH, from the prebuilds alone',
    async () => {
      const probe = await run(bin + '/sh', ['-c', `command -v ${COMPILERS.join(' ')} || true`], {
        cwd: app,
        env,
      });
      expect(probe.stdout).toBe('');

      await run(bin + '/npm', ['init', '-y'], { cwd: app, env });
      // The package's install script (scripts/install.js), when npm runs it,
      // must find the prebuilds loadable and build nothing; without them it
      // exits non-zero here.
      await run(
        bin + '/npm',
        ['install', '--foreground-scripts', '--no-audit', '--no-fund', tarball],
        { cwd: app, env },
      );
      const pkg = path.join(app, 'node_modules', 'vmm-gdbstub');
      for (const prebuild of PREBUILDS) expect(fs.existsSync(path.join(pkg, prebuild))).toBe(true);
      for (const addon of fs.readdirSync(path.join(pkg, 'addons'))) {
        expect(fs.existsSync(path.join(pkg, 'addons', addon, 'build'))).toBe(false);
      }
      installed = true;
    },
    TIMEOUT_MS,
  );

  it(
    'runs `npx vmm-gdbstub run <kernel> --backend emu` to the kernel COM1 line, and stops on SIGTERM',
    async () => {
      if (!installed) throw new Error('the install test failed');
      const kernels = path.join('node_modules', 'vmm-gdbstub', 'test', 'fixtures', 'guest', 'bin');
      // Its own process group: npx runs the bin through sh, which does not
      // pass SIGTERM on, so the whole group is signalled.
      const cli = spawn(
        bin + '/npx',
        ['vmm-gdbstub', 'run', path.join(kernels, 'up.elf'), '--backend', 'emu'],
        { cwd: app, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      cliPid = cli.pid;
      let stdout = '';
      let stderr = '';
      cli.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      cli.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      // 'close': every process holding the pipes (npx, sh, node) has exited.
      const closed = new Promise<number | null>((resolve) =>
        cli.on('close', (code) => {
          cliClosed = true;
          resolve(code);
        }),
      );

      const started = Date.now();
      while (!stdout.includes(COM1_LINE) && !cliClosed && Date.now() - started < 60_000) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const output = `--- stdout\n${stdout}\n--- stderr\n${stderr}`;
      if (!stdout.includes(COM1_LINE)) throw new Error(`no COM1 line from the CLI\n${output}`);
      expect(stderr).toContain('backend emu');

      process.kill(-cli.pid!, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const exited = await Promise.race([
        closed.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 15_000))),
      ]);
      clearTimeout(timer);
      expect(exited).toBe(true);
    },
    TIMEOUT_MS,
  );
});
