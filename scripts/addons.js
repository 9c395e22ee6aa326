// The native addons and where node-gyp-build looks for each.
'use strict';
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const ADDONS = [
  { name: 'core', target: 'vmm_core' },
  { name: 'emu', target: 'vmm_emu' },
];

function addonDir(name) {
  return path.join(ROOT, 'addons', name);
}

/** cmake-js's build folder (`VMM_BUILD_DIR` overrides it). */
function cmakeBuildDir() {
  return process.env.VMM_BUILD_DIR || path.join(ROOT, 'build-cmake');
}

/** Whether node-gyp-build finds a loadable binary (a prebuild or build/Release). */
function loads(name) {
  try {
    require('node-gyp-build')(addonDir(name));
    return true;
  } catch {
    return false;
  }
}

module.exports = { ROOT, ADDONS, addonDir, cmakeBuildDir, loads };
