import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../support/kernels';

// The fake vmm's own tests (test/native/fakevmm_test.cc), built with the addons.
const BINARY = path.join(
  process.env.VMM_BUILD_DIR ?? path.join(ROOT, 'build-cmake'),
  'test',
  'native',
  'fakevmm_test',
);

it('the fake vmm passes its native test program', async () => {
  expect(fs.existsSync(BINARY)).toBe(true); // built by `npm run build:native`
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(BINARY, { timeout: 60000 }, (error, out) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout: out }),
    );
  });
  expect(stdout).not.toMatch(/^FAIL/m);
  expect(stdout).toMatch(/^fakevmm: \d+ passed, 0 failed/m);
  expect(code).toBe(0);
});
