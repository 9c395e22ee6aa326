#!/usr/bin/env node
// `npm run bench`: compiles bench/*.ts (and the lib/rsp code it reuses) into a
// temporary folder with tsc, then runs bench/main.ts from there. Nothing is
// written into the checkout; the stub itself runs from dist/ (npm run build:ts).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'vmm-gdbstub-bench-js-'));
try {
  execFileSync(
    process.execPath,
    [
      require.resolve('typescript/bin/tsc'),
      '-p',
      path.join(__dirname, 'tsconfig.json'),
      '--outDir',
      out,
    ],
    { stdio: 'inherit' },
  );
} catch {
  fs.rmSync(out, { recursive: true, force: true });
  process.exit(1);
}
require(path.join(out, 'bench', 'main.js'))
  .main(process.argv.slice(2), root)
  .then(
    (status) => {
      fs.rmSync(out, { recursive: true, force: true });
      process.exit(status);
    },
    (error) => {
      fs.rmSync(out, { recursive: true, force: true });
      process.stderr.write(`bench: ${error && error.stack ? error.stack : error}\n`);
      process.exit(1);
    },
  );
