#!/usr/bin/env node
// The FreeBSD build, checked on any machine with clang (`npm run check:freebsd`):
//
//   compile  every source of the FreeBSD build (the seam and bhyve lists of
//            native/sources.json) with clang for x86_64-unknown-freebsd14.2,
//            -fsyntax-only, with the flags CMakeLists.txt sets there, against
//            FreeBSD's real headers. Any diagnostic at all fails.
//   layout   the fake vmm's libvmmapi shim (native/fakevmm/include) against the
//            real headers: every constant and enum value, the result of every
//            function-like macro on sample arguments, every typedef's size and
//            signedness, every libvmmapi function's type, and every struct's
//            size, alignment and fields (name, type, offset, bit range).
//
// Both run twice: FreeBSD 14.2 (../shared/freebsd-14.2-sysroot) and FreeBSD 15
// (the same with 15's vmmapi.h, machine/vmm.h, machine/vmm_dev.h and dev/vmm/
// from ../shared/reference/freebsd-vmm first on the include path). The shim
// follows 15; where 14.2 differs, FREEBSD_14_2_DIFFERS lists exactly how, and
// any other difference (or a listed one that is gone) fails.
//
// Environment: CLANGXX (default clang++-19), CXX (default g++, which compiles
// the shim as the fake vmm's build does). --keep leaves the work folder.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { ROOT } = require('./addons');

const SHARED = path.resolve(ROOT, '..', 'shared');
const SYSROOT = path.join(SHARED, 'freebsd-14.2-sysroot');
const REFERENCE = path.join(SHARED, 'reference', 'freebsd-vmm');
const SHIM = path.join(ROOT, 'native', 'fakevmm', 'include');
const SHIM_HEADERS = ['sys/cpuset.h', 'machine/vmm.h', 'machine/vmm_dev.h', 'vmmapi.h'];
// FreeBSD 15's headers, as the include path wants them: [where, from REFERENCE].
const FREEBSD_15_HEADERS = [
  ['vmmapi.h', 'vmmapi.h'],
  ['machine/vmm.h', 'vmm.h'],
  ['machine/vmm_dev.h', 'vmm_dev.h'],
  ['dev/vmm/vmm_dev.h', 'dev/vmm/vmm_dev.h'],
  ['dev/vmm/vmm_param.h', 'dev/vmm/vmm_param.h'],
];
// As bhyve_vmm.cc has them: sys/param.h must come first.
const INCLUDES = ['sys/param.h', 'sys/cpuset.h', 'machine/vmm.h', 'machine/vmm_dev.h', 'vmmapi.h'];

// Function-like macros of the shim, with the arguments they are compared on.
const MACRO_SAMPLES = {
  VM_INTINFO_VECTOR: ['0x80000b0e', '0x12345678abcdll'],
  SEG_DESC_TYPE: ['0', '0xa09b', '0x1c093', '0xffffffffu'],
  SEG_DESC_DPL: ['0', '0xa09b', '0x1c0f3', '0xffffffffu'],
  SEG_DESC_PRESENT: ['0', '0xa09b', '0x1c013', '0xffffffffu'],
  SEG_DESC_DEF32: ['0', '0xc09b', '0x1a093', '0xffffffffu'],
  SEG_DESC_GRANULARITY: ['0', '0xc09b', '0x14093', '0xffffffffu'],
  SEG_DESC_UNUSABLE: ['0', '0xa09b', '0x10000', '0xffffffffu'],
};
// Function-like macros that are not constants: they work on a cpuset_t, whose
// size is compared, and are glibc's own on Linux.
const NOT_CONSTANT = new Set([
  'CPU_SET',
  'CPU_CLR',
  'CPU_ISSET',
  'CPU_ZERO',
  'CPU_COUNT',
  'CPU_EMPTY',
]);

// Where FreeBSD 14.2 differs from the shim (which follows 15): exactly these.
const FREEBSD_14_2_DIFFERS = {
  // Value in 14.2, or null: 14.2 does not declare it.
  constants: { VM_SUSPEND_DESTROY: null, VM_SUSPEND_LAST: 5 },
  layout: [
    'struct vm_inout_str: sizeof is 104 in the shim, 88 in FreeBSD 14.2',
    'struct vm_inout_str: cs_d (int at 88) is not in FreeBSD 14.2',
    'struct vm_inout_str: cs_base (uint64_t at 96) is not in FreeBSD 14.2',
    'struct vm_exit: u.inout_str.cs_d (int at 104) is not in FreeBSD 14.2',
    'struct vm_exit: u.inout_str.cs_base (uint64_t at 112) is not in FreeBSD 14.2',
  ],
};

const CLANGXX = process.env.CLANGXX || 'clang++-19';
const CXX = process.env.CXX || 'g++';
const failures = [];

function fail(message) {
  failures.push(message);
  console.log(`FAIL ${message}`);
}

function shown(file) {
  return path.relative(ROOT, file);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', ...options });
  if (result.error) {
    console.error(`freebsd-check: cannot run ${command}: ${result.error.message}`);
    if (command === CLANGXX) console.error('(install clang-19, or name a clang++ in CLANGXX)');
    process.exit(1);
  }
  return result;
}

// --- prerequisites ---------------------------------------------------------

function requireFiles() {
  const needed = [
    path.join(SYSROOT, 'usr', 'include', 'sys', 'param.h'),
    path.join(SYSROOT, 'usr', 'include', 'vmmapi.h'),
    path.join(SYSROOT, 'usr', 'include', 'c++', 'v1'),
    ...FREEBSD_15_HEADERS.map(([, from]) => path.join(REFERENCE, from)),
  ];
  const missing = needed.filter((file) => !fs.existsSync(file));
  if (missing.length > 0) {
    console.error('freebsd-check: the FreeBSD headers are not where the check expects them:');
    for (const file of missing) console.error(`  missing: ${shown(file)}`);
    console.error(`(the check needs ../shared beside the repository, i.e. ${SHARED})`);
    process.exit(1);
  }
}

// A sysroot copied without symbolic links holds a link as a small file whose
// text is its target (usr/include/stdint.h reading "sys/stdint.h"). Such a
// tree is mirrored with real links; an intact one is used as it is.
function isLinkStandIn(file) {
  const stat = fs.lstatSync(file);
  if (!stat.isFile() || stat.size > 255) return null;
  const target = fs.readFileSync(file, 'utf8');
  if (!/^[\w./-]+$/.test(target) || target.startsWith('/')) return null;
  const resolved = path.resolve(path.dirname(file), target);
  return resolved.startsWith(SYSROOT + path.sep) && fs.existsSync(resolved) ? resolved : null;
}

function hasStandIns(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).some((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? hasStandIns(full) : entry.isFile() && isLinkStandIn(full);
  });
}

function mirror(from, to) {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const dest = path.join(to, entry.name);
    if (entry.isDirectory() && hasStandIns(source)) mirror(source, dest);
    else fs.symlinkSync((entry.isFile() && isLinkStandIn(source)) || source, dest);
  }
}

function sysroot(work) {
  if (!hasStandIns(SYSROOT)) return SYSROOT;
  const copy = path.join(work, 'sysroot');
  mirror(SYSROOT, copy);
  return copy;
}

function freebsd15Overlay(work) {
  const dir = path.join(work, 'freebsd-15');
  for (const [where, from] of FREEBSD_15_HEADERS) {
    fs.mkdirSync(path.dirname(path.join(dir, where)), { recursive: true });
    fs.copyFileSync(path.join(REFERENCE, from), path.join(dir, where));
  }
  return dir;
}

// --- the FreeBSD build's flags, read from CMakeLists.txt ----------------------

function cmakeList(cmake, variable) {
  const match = new RegExp(`set\\(${variable} ([^)]*)\\)`).exec(cmake);
  if (!match) {
    console.error(`freebsd-check: CMakeLists.txt no longer sets ${variable}`);
    process.exit(1);
  }
  return match[1].trim().split(/\s+/);
}

function buildFlags() {
  const cmake = fs.readFileSync(path.join(ROOT, 'CMakeLists.txt'), 'utf8');
  const std = /set\(CMAKE_CXX_STANDARD (\d+)\)/.exec(cmake);
  if (!std || !/vmm_core PRIVATE VMM_HAVE_BHYVE=1/.test(cmake)) {
    console.error('freebsd-check: CMakeLists.txt no longer reads as this check expects');
    process.exit(1);
  }
  const napiHeaders = require('node-api-headers').include_dir;
  const addonApi = path.join(ROOT, require('node-addon-api').include_dir);
  return [
    `-std=gnu++${std[1]}`, // CMAKE_CXX_EXTENSIONS is left on
    '-O3', // the Release build type
    '-DNDEBUG',
    '-fPIC',
    ...cmakeList(cmake, 'VMM_WARNINGS'),
    ...cmakeList(cmake, 'VMM_NAPI_DEFINES').map((d) => `-D${d}`),
    '-DVMM_HAVE_BHYVE=1',
    '-I',
    napiHeaders,
    '-I',
    addonApi,
    '-I',
    path.join(ROOT, 'native'),
  ];
}

function freebsdSources() {
  const lists = JSON.parse(fs.readFileSync(path.join(ROOT, 'native', 'sources.json'), 'utf8'));
  return [...lists.seam, ...lists.bhyve];
}

// --- what the shim declares -------------------------------------------------

function withoutComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/.*$/gm, '');
}

function readShim() {
  const shim = { constants: [], macros: [], structs: [], typedefs: [], functions: [] };
  for (const header of SHIM_HEADERS) {
    const text = withoutComments(fs.readFileSync(path.join(SHIM, header), 'utf8'));
    for (const [, name, params, value] of text.matchAll(/^#define\s+(\w+)(\([^)]*\))?(.*)$/gm)) {
      if (params) {
        if (NOT_CONSTANT.has(name)) continue;
        if (!MACRO_SAMPLES[name]) {
          fail(`${header}: macro ${name}() has no sample arguments in MACRO_SAMPLES`);
          continue;
        }
        for (const arg of MACRO_SAMPLES[name]) shim.macros.push(`${name}(${arg})`);
      } else if (value.trim() !== '') {
        shim.constants.push(name);
      }
    }
    for (const [, body] of text.matchAll(/^(?:typedef )?enum\s*\w*\s*\{([^}]*)\}/gm)) {
      for (const item of body.split(',')) {
        const name = /^\s*(\w+)/.exec(item);
        if (name) shim.constants.push(name[1]);
      }
    }
    for (const [, name] of text.matchAll(/^struct (\w+) \{/gm)) shim.structs.push(name);
    for (const [, name] of text.matchAll(/^typedef [^;{}]*?\b(\w+);/gm)) shim.typedefs.push(name);
    const externC = /extern "C" \{([\s\S]*?)\n\}/.exec(text);
    if (externC) {
      for (const decl of externC[1].replace(/^#.*$/gm, '').split(';')) {
        const fn = /^\s*([\w\s*]*?[\s*])(\w+)\s*\(([\s\S]*)\)\s*$/.exec(decl);
        if (fn) shim.functions.push({ name: fn[2], type: `${fn[1].trim()} (*)(${fn[3]})` });
      }
    }
  }
  return shim;
}

// What the g++ probe prints for the shim: name -> value.
function shimExpressions(shim, shimLayout) {
  const values = [...shim.constants, ...shim.macros];
  for (const name of shim.typedefs) {
    values.push(`sizeof(${name})`, `std::is_signed<${name}>::value`);
  }
  for (const name of shim.structs) {
    const record = shimLayout.get(`struct ${name}`);
    values.push(`sizeof(struct ${name})`, `alignof(struct ${name})`);
    for (const field of record ? record.fields : []) {
      if (!field.bits && !field.path.includes('(')) {
        values.push(`offsetof(struct ${name}, ${field.path})`);
      }
    }
  }
  return values;
}

// --- record layouts (clang -fdump-record-layouts-complete) -------------------

function parseLayouts(dump) {
  const records = new Map();
  let record = null;
  const names = [];
  for (const line of dump.split('\n')) {
    if (line.startsWith('*** Dumping AST Record Layout')) {
      record = undefined;
      continue;
    }
    const size = /^\s*\| \[sizeof=(\d+), dsize=\d+, align=(\d+)/.exec(line);
    if (size && record) {
      record.size = Number(size[1]);
      record.align = Number(size[2]);
      continue;
    }
    const row = /^\s*(\d+)(?::(\d+-\d+))? \| ( *)(.*)$/.exec(line);
    if (!row) continue;
    const depth = row[3].length / 2;
    const text = row[4].replace(/\((?:anonymous|unnamed) at [^)]*\)/g, '(anonymous)');
    if (depth === 0) {
      // The first dump of a record is kept; nested records show up inside theirs.
      record = record === undefined && !records.has(text) ? { fields: [] } : null;
      if (record) records.set(text, record);
      continue;
    }
    if (!record) continue;
    const name = text.split(' ').pop();
    names.length = depth - 1;
    names.push(name);
    record.fields.push({
      path: names.join('.'),
      type: text.slice(0, text.length - name.length).trim(),
      offset: Number(row[1]),
      bits: row[2] || '',
    });
  }
  return records;
}

function where(field) {
  return `${field.type} at ${field.offset}${field.bits ? `:${field.bits}` : ''}`;
}

function compareLayouts(structs, shim, real, version) {
  const differences = [];
  for (const name of structs) {
    const key = `struct ${name}`;
    const ours = shim.get(key);
    const theirs = real.get(key);
    if (!ours || !theirs) {
      differences.push(`${key}: no layout ${ours ? `in FreeBSD ${version}` : 'in the shim'}`);
      continue;
    }
    for (const what of ['size', 'align']) {
      if (ours[what] !== theirs[what]) {
        const label = what === 'size' ? 'sizeof' : 'alignof';
        differences.push(
          `${key}: ${label} is ${ours[what]} in the shim, ${theirs[what]} in FreeBSD ${version}`,
        );
      }
    }
    const theirFields = new Map(theirs.fields.map((f) => [f.path, f]));
    for (const field of ours.fields) {
      const other = theirFields.get(field.path);
      if (!other) {
        differences.push(`${key}: ${field.path} (${where(field)}) is not in FreeBSD ${version}`);
      } else if (where(field) !== where(other)) {
        differences.push(
          `${key}: ${field.path} is ${where(field)} in the shim, ${where(other)} in FreeBSD ${version}`,
        );
      }
    }
    const ourFields = new Set(ours.fields.map((f) => f.path));
    for (const field of theirs.fields) {
      if (!ourFields.has(field.path)) {
        differences.push(`${key}: FreeBSD ${version} has ${field.path} (${where(field)})`);
      }
    }
  }
  return differences;
}

// --- the checks ---------------------------------------------------------------

function includeLines() {
  return ['// clang-format off', ...INCLUDES.map((h) => `#include <${h}>`)].join('\n');
}

function checkCompile(variant, root, flags) {
  const sources = freebsdSources();
  const args = [
    '--target=x86_64-unknown-freebsd14.2',
    `--sysroot=${root}`,
    '-fsyntax-only',
    ...flags,
    ...variant.include,
    ...sources,
  ];
  const result = run(CLANGXX, args);
  const output = `${result.stdout}${result.stderr}`.trim();
  if (result.status !== 0 || output !== '') {
    if (output) console.log(output);
    fail(`compile, FreeBSD ${variant.version}: clang reported the above (exit ${result.status})`);
    return;
  }
  console.log(
    `ok   compile, FreeBSD ${variant.version}: ${sources.length} sources, no diagnostics`,
  );
}

// The shim's values, from the compiler that builds the fake vmm.
function probeShim(work, expressions) {
  const source = path.join(work, 'shim_probe.cc');
  const binary = path.join(work, 'shim_probe');
  const lines = expressions.map((e) => `  std::printf("%lld\\n", static_cast<long long>(${e}));`);
  fs.writeFileSync(
    source,
    `${includeLines()}\n#include <cstddef>\n#include <cstdio>\n#include <type_traits>\n\n` +
      `int main() {\n${lines.join('\n')}\n  return 0;\n}\n`,
  );
  const built = run(CXX, ['-std=gnu++17', '-Wall', '-Wextra', '-I', SHIM, source, '-o', binary]);
  if (built.status !== 0 || built.stderr.trim() !== '') {
    console.log(built.stderr);
    fail('layout: the shim probe does not compile cleanly with g++');
    return null;
  }
  const probed = run(binary, []);
  const printed = probed.stdout.trim().split('\n');
  if (probed.status !== 0 || printed.length !== expressions.length) {
    fail(`layout: the shim probe printed ${printed.length} of ${expressions.length} values`);
    return null;
  }
  return new Map(expressions.map((e, i) => [e, BigInt(printed[i])]));
}

function dumpShimLayouts(work) {
  const source = path.join(work, 'shim_layout.cc');
  fs.writeFileSync(source, `${includeLines()}\n`);
  const result = run(CLANGXX, [
    '--target=x86_64-linux-gnu',
    '-std=gnu++17',
    '-fsyntax-only',
    '-Xclang',
    '-fdump-record-layouts-complete',
    '-I',
    SHIM,
    source,
  ]);
  if (result.status !== 0) {
    console.log(result.stderr);
    fail('layout: clang cannot read the shim headers');
  }
  return parseLayouts(result.stdout);
}

function checkLayout(variant, root, shim, shimValues, shimLayout, work) {
  const differs = variant.version === '14.2' ? FREEBSD_14_2_DIFFERS : { constants: {}, layout: [] };
  const asserts = [];
  for (const [expression, value] of shimValues) {
    if (/^(sizeof|alignof|offsetof)\(struct /.test(expression)) continue; // in the layouts
    let expected = value;
    if (Object.hasOwn(differs.constants, expression)) {
      if (differs.constants[expression] === null) {
        // A declaration of the same name is an error where the header has one.
        asserts.push(
          `[[maybe_unused]] static int ${expression} = 0;  // absent in ${variant.version}`,
        );
        continue;
      }
      expected = BigInt(differs.constants[expression]);
    }
    asserts.push(
      `static_assert(static_cast<long long>(${expression}) == ${expected}LL, "${expression}: FreeBSD ${variant.version}, then the shim");`,
    );
  }
  for (const name of Object.keys(differs.constants)) {
    if (!shimValues.has(name))
      fail(`layout: ${name} is listed as a difference, but the shim has none`);
  }
  for (const fn of shim.functions) {
    asserts.push(
      `static_assert(std::is_same<decltype(&${fn.name}), ${fn.type}>::value, "${fn.name}");`,
    );
  }
  const source = path.join(work, `real_${variant.version}.cc`);
  fs.writeFileSync(
    source,
    `${includeLines()}\n#include <cstddef>\n#include <type_traits>\n\n${asserts.join('\n')}\n`,
  );
  const result = run(CLANGXX, [
    '--target=x86_64-unknown-freebsd14.2',
    `--sysroot=${root}`,
    '-std=gnu++17',
    '-fsyntax-only',
    '-Wall',
    '-Wextra',
    '-Xclang',
    '-fdump-record-layouts-complete',
    ...variant.include,
    source,
  ]);
  const counts = `${asserts.length - shim.functions.length} values, ${shim.functions.length} function types`;
  if (result.status !== 0 || result.stderr.trim() !== '') {
    console.log(result.stderr.trim());
    fail(`layout, FreeBSD ${variant.version}: the shim's values or types differ (above)`);
  } else {
    console.log(`ok   layout, FreeBSD ${variant.version}: ${counts} as the shim has them`);
  }

  const differences = compareLayouts(
    shim.structs,
    shimLayout,
    parseLayouts(result.stdout),
    variant.version,
  );
  const unexpected = differences.filter((d) => !differs.layout.includes(d));
  const gone = differs.layout.filter((d) => !differences.includes(d));
  for (const d of unexpected) fail(`layout: ${d}`);
  for (const d of gone)
    fail(`layout: a listed difference is gone, update FREEBSD_14_2_DIFFERS: ${d}`);
  if (unexpected.length === 0 && gone.length === 0) {
    const note = differs.layout.length > 0 ? `, but for the ${differs.layout.length} listed` : '';
    console.log(
      `ok   layout, FreeBSD ${variant.version}: ${shim.structs.length} structs alike${note}`,
    );
  }
}

// The g++ probe and clang's dump of the shim must tell the same layout.
function checkShimDumpAgrees(shim, shimValues, shimLayout) {
  let checked = 0;
  for (const name of shim.structs) {
    const record = shimLayout.get(`struct ${name}`);
    if (!record) {
      fail(`layout: clang dumped no layout for the shim's struct ${name}`);
      continue;
    }
    const pairs = [
      [`sizeof(struct ${name})`, record.size],
      [`alignof(struct ${name})`, record.align],
      ...record.fields
        .filter((f) => !f.bits && !f.path.includes('('))
        .map((f) => [`offsetof(struct ${name}, ${f.path})`, f.offset]),
    ];
    for (const [expression, value] of pairs) {
      checked++;
      if (shimValues.get(expression) !== BigInt(value)) {
        fail(`layout: g++ says ${expression} is ${shimValues.get(expression)}, clang ${value}`);
      }
    }
  }
  console.log(`ok   layout, the shim: g++ and clang agree on ${checked} sizes and offsets`);
}

function main() {
  requireFiles();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vmm-freebsd-check-'));
  try {
    const root = sysroot(work);
    const variants = [
      { version: '14.2', include: [] },
      { version: '15', include: ['-isystem', freebsd15Overlay(work)] },
    ];
    const flags = buildFlags();
    for (const variant of variants) checkCompile(variant, root, flags);

    const shim = readShim();
    const shimLayout = dumpShimLayouts(work);
    const shimValues = probeShim(work, shimExpressions(shim, shimLayout));
    if (shimValues) {
      checkShimDumpAgrees(shim, shimValues, shimLayout);
      for (const variant of variants) {
        checkLayout(variant, root, shim, shimValues, shimLayout, work);
      }
    }
  } finally {
    if (process.argv.includes('--keep')) console.log(`work folder: ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
  if (failures.length > 0) {
    console.log(`freebsd-check: ${failures.length} failure(s)`);
    process.exit(1);
  }
  console.log('freebsd-check: all passed');
}

main();
