#!/usr/bin/env node
// Builds both addons with cmake-js (CMakeLists.txt) into
// addons/<name>/build/Release. Extra arguments go to cmake-js, e.g.
// `--CDVMM_SANITIZE=ON`.
//
// Also what prebuildify runs in place of node-gyp (see prebuild.js): then
// VMM_PREBUILD_ADDON names the addon, node-gyp's arguments are ignored, only
// that addon is built, and a copy of it is put in ./build/Release (the
// staging folder prebuildify runs us in), where prebuildify strips it and
// moves it to addons/<name>/prebuilds/. The build/Release binary is left as
// it is.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { ROOT, ADDONS, addonDir, cmakeBuildDir } = require('./addons');

const prebuildName = process.env.VMM_PREBUILD_ADDON;
const addon = prebuildName && ADDONS.find((a) => a.name === prebuildName);
if (prebuildName && !addon) {
  console.error(`build-native: no addon named ${prebuildName}`);
  process.exit(1);
}

const passThrough = process.argv.slice(2).filter((arg) => arg.startsWith('--CD'));
const cmakeJs = path.join(ROOT, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
const args = ['build', '--directory', ROOT, '--out', cmakeBuildDir(), '--parallel', '2'];
if (addon) args.push('--target', addon.target);
const result = spawnSync(process.execPath, [cmakeJs, ...args, ...passThrough], {
  stdio: 'inherit',
  cwd: ROOT,
});
if (result.status !== 0) process.exit(result.status === null ? 1 : result.status);

if (addon) {
  const built = path.join(addonDir(addon.name), 'build', 'Release', `${addon.target}.node`);
  const staged = path.join(process.cwd(), 'build', 'Release');
  fs.mkdirSync(staged, { recursive: true });
  fs.copyFileSync(built, path.join(staged, `${addon.target}.node`));
}
