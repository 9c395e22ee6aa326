import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
const sources = JSON.parse(read('native/sources.json')) as Record<string, unknown>;
const groups = Object.entries(sources).filter(([, v]) => Array.isArray(v)) as [string, string[]][];

function nativeFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) return nativeFiles(rel);
    return /\.(cc|c)$/.test(rel) ? [rel] : [];
  });
}

describe('native source lists', () => {
  it('name every .cc and .c file under native/ exactly once', () => {
    const listed = groups.flatMap(([, files]) => files).sort();
    expect(listed).toEqual(nativeFiles('native').sort());
  });

  it('name only files that exist', () => {
    for (const [, files] of groups) {
      for (const file of files) expect(fs.existsSync(path.join(ROOT, file))).toBe(true);
    }
  });

  // Both build files must take every list from native/sources.json, never a hand copy.
  it('are what binding.gyp compiles', () => {
    const gyp = read('binding.gyp');
    expect(gyp).not.toMatch(/\.cc?["']/);
    for (const [group] of groups) {
      expect(gyp).toContain(`require('./native/sources.json').${group}.join(' ')`);
    }
    expect(gyp).toMatch(/"target_name": "vmm_core"[\s\S]*<@\(seam\)[\s\S]*<@\(kvm\)/);
    expect(gyp).toMatch(/"target_name": "vmm_emu",[^}]*"sources": \["<@\(seam\)", "<@\(bhyve\)", "<@\(fakevmm\)"\]/);
    expect(gyp).toMatch(/"target_name": "fakevmm_unicorn",[^}]*"sources": \["<@\(fakevmm_unicorn\)"\]/);
  });

  it('are what CMakeLists.txt compiles', () => {
    const cmake = read('CMakeLists.txt');
    expect(cmake).not.toMatch(/\.cc?\b/);
    expect(cmake).toContain('native/sources.json');
    for (const [group] of groups) {
      expect(cmake).toContain(`vmm_sources(${group.toUpperCase()}_SOURCES ${group})`);
    }
    expect(cmake).toMatch(/vmm_addon\(vmm_core core \$\{SEAM_SOURCES\} \$\{KVM_SOURCES\}\)/);
    expect(cmake).toMatch(/add_library\(fakevmm STATIC \$\{FAKEVMM_SOURCES\} \$\{FAKEVMM_UNICORN_SOURCES\}\)/);
    expect(cmake).toMatch(/vmm_addon\(vmm_emu emu \$\{SEAM_SOURCES\} \$\{BHYVE_SOURCES\}\)/);
  });
});
