#!/usr/bin/env node
// Builds both addons with cmake-js (CMakeLists.txt). Extra arguments go to
// cmake-js, e.g. `--CDVMM_SANITIZE=ON`. Also what prebuildify runs in place
// of node-gyp, from inside addons/<name>/ and with node-gyp's arguments,
// which are ignored.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { ROOT } = require('./addons');

const passThrough = process.argv.slice(2).filter((arg) => arg.startsWith('--CD'));
const buildDir = process.env.VMM_BUILD_DIR || path.join(ROOT, 'build-cmake');
const cmakeJs = path.join(ROOT, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
const result = spawnSync(
  process.execPath,
  [cmakeJs, 'build', '--directory', ROOT, '--out', buildDir, '--parallel', '2', ...passThrough],
  { stdio: 'inherit', cwd: ROOT },
);
process.exit(result.status === null ? 1 : result.status);
