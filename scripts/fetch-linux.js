#!/usr/bin/env node
// Fetches Debian's stock kernel (the one linux-image-amd64 depends on) and
// busybox-static with apt-get into a cache, extracts the bzImage and builds
// a busybox initramfs. Prints the paths as JSON. Cached files are reused.
//
//   node scripts/fetch-linux.js
//   node scripts/fetch-linux.js --symbols   # also the vmlinux with DWARF (-dbg package)
//   VMM_GDBSTUB_LINUX_CACHE=/some/dir node scripts/fetch-linux.js
//
// --symbols downloads linux-image-<version>-dbg (about 860 MB), keeps only
// its vmlinux (about 630 MB) and deletes the .deb.
//
// The initramfs's /init mounts proc, sysfs and devtmpfs, prints
// "vmm-gdbstub linux init: mounted" and "vmm-gdbstub linux init: ok" (two
// writes from the same place: a debugger can stop at the second's system
// call in user mode once it has seen the first), then powers off, or runs a shell on the
// console when the kernel command line has vmm_shell=1 (and powers off
// when it exits).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { newcArchive } = require('./cpio');

const CACHE_ENV = 'VMM_GDBSTUB_LINUX_CACHE';
const META_PACKAGE = 'linux-image-amd64';
const BUSYBOX_PACKAGE = 'busybox-static';
const INIT_MARKER = 'vmm-gdbstub linux init: ok';
/** The applets /bin links to busybox. */
const APPLETS = ['sh', 'mount', 'echo', 'cat', 'poweroff', 'setsid', 'cttyhack'];

const INIT_SCRIPT = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "vmm-gdbstub linux init: mounted"
echo "${INIT_MARKER}"
case " $(cat /proc/cmdline) " in
*" vmm_shell=1 "*) setsid cttyhack sh ;;
esac
poweroff -f
`;

function cacheDir() {
  return process.env[CACHE_ENV] || path.join(os.homedir(), '.cache', 'vmm-gdbstub', 'linux');
}

function run(file, args, options = {}) {
  try {
    return execFileSync(file, args, {
      maxBuffer: 1 << 30,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...options,
    });
  } catch (error) {
    const stderr = error.stderr ? error.stderr.toString().trim() : '';
    throw new Error(
      `${file} ${args.join(' ')} failed${stderr ? `: ${stderr}` : `: ${error.message}`}`,
    );
  }
}

/** The versioned kernel package linux-image-amd64 depends on now, e.g. linux-image-6.1.0-57-amd64. */
function kernelPackage() {
  const text = run('apt-cache', ['depends', META_PACKAGE]).toString();
  const match = /^\s*Depends:\s*(linux-image-\S+)$/m.exec(text);
  if (!match) throw new Error(`apt-cache depends ${META_PACKAGE} names no linux-image package`);
  return match[1];
}

/** The cached .deb of `name`, downloaded with apt-get into `dir` when there is none. */
function debOf(dir, name) {
  const find = () =>
    fs.readdirSync(dir).find((f) => f.startsWith(`${name}_`) && f.endsWith('.deb'));
  let deb = find();
  if (deb === undefined) {
    process.stderr.write(`fetch-linux: apt-get download ${name}\n`);
    run('apt-get', ['download', name], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    deb = find();
    if (deb === undefined) throw new Error(`apt-get download ${name} left no .deb in ${dir}`);
  }
  return path.join(dir, deb);
}

/** Extracts the members matching `pattern` from a .deb's file system tree into `into`. */
function extract(deb, into, pattern) {
  fs.mkdirSync(into, { recursive: true });
  const tar = run('dpkg-deb', ['--fsys-tarfile', deb]);
  run('tar', ['-x', '-C', into, '--wildcards', pattern], { input: tar });
}

function fetchKernel(dir, pkg) {
  const version = pkg.replace(/^linux-image-/, '');
  const kernel = path.join(dir, `vmlinuz-${version}`);
  const deb = debOf(dir, pkg);
  if (!fs.existsSync(kernel)) {
    const tmp = fs.mkdtempSync(path.join(dir, 'extract-'));
    try {
      extract(deb, tmp, './boot/vmlinuz-*');
      fs.copyFileSync(path.join(tmp, 'boot', `vmlinuz-${version}`), kernel);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  return { kernel, version, deb };
}

/**
 * The kernel's vmlinux with DWARF from its -dbg package: tar stops at the
 * first match (the rest of the package is the modules' debug info, which
 * would take minutes to unpack), and the .deb goes once vmlinux is out.
 */
function fetchSymbols(dir, pkg, version) {
  const vmlinux = path.join(dir, `vmlinux-${version}`);
  if (fs.existsSync(vmlinux)) return vmlinux;
  const deb = debOf(dir, `${pkg}-dbg`);
  const tmp = fs.mkdtempSync(path.join(dir, 'extract-'));
  try {
    const member = `./usr/lib/debug/boot/vmlinux-${version}`;
    // dpkg-deb dies of SIGPIPE when tar stops early: only tar's status counts.
    run('sh', [
      '-c',
      'dpkg-deb --fsys-tarfile "$1" 2>/dev/null | tar -x -C "$2" --occurrence=1 "$3"',
      'sh',
      deb,
      tmp,
      member,
    ]);
    const extracted = path.join(tmp, member);
    if (!fs.existsSync(extracted)) throw new Error(`${path.basename(deb)} has no ${member}`);
    fs.renameSync(extracted, vmlinux);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  fs.rmSync(deb, { force: true });
  return vmlinux;
}

function fetchBusybox(dir) {
  const busybox = path.join(dir, 'busybox');
  const deb = debOf(dir, BUSYBOX_PACKAGE);
  if (!fs.existsSync(busybox)) {
    const tmp = fs.mkdtempSync(path.join(dir, 'extract-'));
    try {
      extract(deb, tmp, './bin/busybox');
      fs.copyFileSync(path.join(tmp, 'bin', 'busybox'), busybox);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  return { busybox, deb };
}

function initramfs(busybox) {
  return zlib.gzipSync(
    newcArchive([
      { path: 'bin', type: 'dir' },
      { path: 'bin/busybox', type: 'file', mode: 0o755, data: fs.readFileSync(busybox) },
      ...APPLETS.map((applet) => ({ path: `bin/${applet}`, type: 'symlink', target: 'busybox' })),
      { path: 'dev', type: 'dir' },
      { path: 'dev/console', type: 'char', major: 5, minor: 1 },
      { path: 'proc', type: 'dir' },
      { path: 'sys', type: 'dir' },
      { path: 'init', type: 'file', mode: 0o755, data: INIT_SCRIPT },
    ]),
    { level: 9 },
  );
}

function main() {
  const dir = cacheDir();
  fs.mkdirSync(dir, { recursive: true });
  const pkg = kernelPackage();
  const kernel = fetchKernel(dir, pkg);
  // Without --symbols, a vmlinux already in the cache is still named.
  const cachedVmlinux = path.join(dir, `vmlinux-${kernel.version}`);
  const vmlinux = process.argv.includes('--symbols')
    ? fetchSymbols(dir, pkg, kernel.version)
    : fs.existsSync(cachedVmlinux)
      ? cachedVmlinux
      : undefined;
  const busybox = fetchBusybox(dir);
  const initrdPath = path.join(dir, 'initramfs.cpio.gz');
  const image = initramfs(busybox.busybox);
  if (!fs.existsSync(initrdPath) || !fs.readFileSync(initrdPath).equals(image)) {
    fs.writeFileSync(initrdPath, image);
  }
  const result = {
    version: kernel.version,
    kernel: kernel.kernel,
    initramfs: initrdPath,
    marker: INIT_MARKER,
    ...(vmlinux === undefined ? {} : { vmlinux }),
    packages: [path.basename(kernel.deb), path.basename(busybox.deb)],
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`fetch-linux: ${error.message}\n`);
    process.exit(1);
  }
}

module.exports = { INIT_MARKER, INIT_SCRIPT, cacheDir };
