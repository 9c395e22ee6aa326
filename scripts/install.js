#!/usr/bin/env node
// npm's install step for this package: nothing to do when prebuilt addons
// load; otherwise build them from source (a git clone, or a platform
// without prebuilds).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { ROOT, ADDONS, loads } = require('./addons');

if (ADDONS.every((addon) => loads(addon.name))) process.exit(0);

if (!fs.existsSync(path.join(ROOT, 'node_modules', 'cmake-js'))) {
  console.error(
    'vmm-gdbstub: no prebuilt addon for ' +
      `${process.platform}-${process.arch}, and cmake-js is not installed to build one.`,
  );
  process.exit(1);
}
const result = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js')], {
  stdio: 'inherit',
});
process.exit(result.status === null ? 1 : result.status);
