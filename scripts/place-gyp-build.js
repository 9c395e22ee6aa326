#!/usr/bin/env node
// After `node-gyp rebuild`: copies build/Release/<target>.node into
// addons/<name>/build/Release, where node-gyp-build looks.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, ADDONS, addonDir } = require('./addons');

for (const addon of ADDONS) {
  const built = path.join(ROOT, 'build', 'Release', `${addon.target}.node`);
  if (!fs.existsSync(built)) continue;
  const dest = path.join(addonDir(addon.name), 'build', 'Release');
  fs.mkdirSync(dest, { recursive: true });
  fs.copyFileSync(built, path.join(dest, `${addon.target}.node`));
  console.log(`${addon.name}: ${path.relative(ROOT, path.join(dest, addon.target + '.node'))}`);
}
