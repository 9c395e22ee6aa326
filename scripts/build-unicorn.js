#!/usr/bin/env node
// For binding.gyp: builds the vendored Unicorn as static libraries with
// CMake (later runs reuse the build) and prints what the emu addon
// links, one path per line. `--include` prints the include directory.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { ROOT } = require('./addons');

// Outside build/, which node-gyp rebuild removes.
const work = path.join(ROOT, 'build-unicorn');
const src = path.join(work, 'unicorn-2.1.4');
const out = path.join(work, 'build');
const quiet = { stdio: ['ignore', 'ignore', 'inherit'] };

if (process.argv.includes('--include')) {
  console.log(path.join(src, 'include'));
  process.exit(0);
}
if (process.argv.includes('--private-includes')) {
  // What native/fakevmm/uc_internal.c needs: Unicorn's own build and source headers.
  const dirs = [
    out,
    path.join(out, 'x86_64-softmmu'),
    'glib_compat',
    'qemu',
    'qemu/include',
    'include',
    'qemu/tcg',
    'qemu/tcg/i386',
    'qemu/target/i386',
  ];
  console.log(dirs.map((d) => (path.isAbsolute(d) ? d : path.join(src, d))).join('\n'));
  process.exit(0);
}
const libs = ['libunicorn.a', 'libx86_64-softmmu.a', 'libunicorn-common.a'].map((l) =>
  path.join(out, l),
);
// The source is laid out (and patched) on every run: the stamp check is cheap
// and a changed patch must reach the libraries.
execFileSync(
  'cmake',
  [`-DUNICORN_SRC=${src}`, '-P', path.join(ROOT, 'scripts', 'prepare-unicorn.cmake')],
  quiet,
);
if (!fs.existsSync(path.join(out, 'CMakeCache.txt'))) {
  execFileSync(
    'cmake',
    [
      '-S',
      src,
      '-B',
      out,
      '-DCMAKE_BUILD_TYPE=Release',
      '-DUNICORN_ARCH=x86',
      '-DBUILD_SHARED_LIBS=OFF',
      '-DUNICORN_LEGACY_STATIC_ARCHIVE=OFF',
      '-DUNICORN_BUILD_TESTS=OFF',
      '-DUNICORN_INSTALL=OFF',
      '-DCMAKE_POSITION_INDEPENDENT_CODE=ON',
    ],
    quiet,
  );
}
// Incremental: a no-op when the libraries are up to date.
execFileSync('cmake', ['--build', out, '--target', 'unicorn', '-j', '2'], quiet);
console.log(libs.join('\n'));
