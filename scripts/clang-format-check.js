#!/usr/bin/env node
// Checks (or with --fix, applies) clang-format on the native sources.
'use strict';
const { spawnSync, execFileSync } = require('node:child_process');
const { ROOT } = require('./addons');

const files = execFileSync(
  'git',
  [
    'ls-files',
    '--cached',
    '--others',
    '--exclude-standard',
    'native/*.cc',
    'native/*.h',
    'test/native/*.cc',
    'test/native/*.h',
  ],
  { cwd: ROOT, encoding: 'utf8' },
)
  .split('\n')
  .filter(Boolean);
const args = process.argv.includes('--fix') ? ['-i'] : ['--dry-run', '--Werror'];
const result = spawnSync('clang-format', [...args, ...files], { cwd: ROOT, stdio: 'inherit' });
if (result.error) {
  console.error(`clang-format: ${result.error.message} (install the clang-format package)`);
  process.exit(1);
}
process.exit(result.status);
