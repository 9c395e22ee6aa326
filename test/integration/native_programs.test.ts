import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../support/kernels';

// The native test programs in test/native, built with the addons.
const BUILD_DIR = process.env.VMM_BUILD_DIR ?? path.join(ROOT, 'build-cmake');

it.each([
  ['fakevmm_test', 'the fake vmm', 'fakevmm'],
  ['port_io_test', 'the seam port I/O model', 'port_io'],
])('%s: %s passes its native test program', async (program, _what, tag) => {
  const binary = path.join(BUILD_DIR, 'test', 'native', program);
  expect(fs.existsSync(binary)).toBe(true); // built by `npm run build:native`
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(binary, { timeout: 60000 }, (error, out) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout: out }),
    );
  });
  expect(stdout).not.toMatch(/^FAIL/m);
  expect(stdout).toMatch(new RegExp(`^${tag}: \\d+ passed, 0 failed`, 'm'));
  expect(code).toBe(0);
});
