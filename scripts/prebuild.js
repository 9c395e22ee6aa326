#!/usr/bin/env node
// `npm run prebuild`: addons/<name>/prebuilds/<platform>-<arch>/<target>.napi.node
// for each addon, made by prebuildify with cmake-js (build-native.js) as its
// build step. prebuildify runs in a temporary staging folder, so it strips
// and moves a copy and addons/<name>/build/Release stays as it was.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { ROOT, ADDONS, addonDir, cmakeBuildDir } = require('./addons');

function fail(message) {
  console.error(`prebuild: ${message}`);
  process.exit(1);
}

// A prebuild must not be an AddressSanitizer build (cmake-js keeps the
// cached configuration of an earlier `build:native -- --CDVMM_SANITIZE=ON`).
const cache = path.join(cmakeBuildDir(), 'CMakeCache.txt');
if (fs.existsSync(cache) && /^VMM_SANITIZE:BOOL=ON$/m.test(fs.readFileSync(cache, 'utf8'))) {
  fail(`${cache} has VMM_SANITIZE=ON; rebuild it without, or set VMM_BUILD_DIR`);
}

const prebuildify = path.join(ROOT, 'node_modules', 'prebuildify', 'bin.js');
const builder = path.join(__dirname, 'build-native.js');
for (const addon of ADDONS) {
  const tuple = path.join(addonDir(addon.name), 'prebuilds', `${os.platform()}-${os.arch()}`);
  fs.rmSync(tuple, { recursive: true, force: true });
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), `vmm-prebuild-${addon.name}-`));
  let result;
  try {
    result = spawnSync(
      process.execPath,
      [
        prebuildify,
        '--napi',
        '--strip',
        '--name',
        addon.target,
        '--cwd',
        stage,
        '--out',
        addonDir(addon.name),
        '--node-gyp',
        builder,
      ],
      { stdio: 'inherit', cwd: ROOT, env: { ...process.env, VMM_PREBUILD_ADDON: addon.name } },
    );
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
  if (result.status !== 0) process.exit(result.status === null ? 1 : result.status);

  // prebuildify 6 names a --napi build after --name alone (<target>.node);
  // the napi tag tells node-gyp-build it suits any Node-API runtime.
  const dest = path.join(tuple, `${addon.target}.napi.node`);
  const plain = path.join(tuple, `${addon.target}.node`);
  if (fs.existsSync(plain)) fs.renameSync(plain, dest);
  if (!fs.existsSync(dest)) fail(`prebuildify made no ${path.relative(ROOT, dest)}`);
  const backends = require(dest).backends();
  console.log(`${path.relative(ROOT, dest)}: backends ${backends.join(', ')}`);
}
