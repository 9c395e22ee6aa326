#!/usr/bin/env node
// `npm run prebuild`: addons/<name>/prebuilds/<platform>-<arch>/<name>.napi.node
// for each addon, made by prebuildify with cmake-js as its build step.
'use strict';
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { ROOT, ADDONS, addonDir } = require('./addons');

const prebuildify = path.join(ROOT, 'node_modules', 'prebuildify', 'bin.js');
const builder = path.join(__dirname, 'build-native.js');
for (const addon of ADDONS) {
  const result = spawnSync(
    process.execPath,
    [
      prebuildify,
      '--napi',
      '--strip',
      '--name',
      addon.target,
      '--cwd',
      addonDir(addon.name),
      '--node-gyp',
      builder,
    ],
    { stdio: 'inherit', cwd: ROOT },
  );
  if (result.status !== 0) process.exit(result.status === null ? 1 : result.status);
}
