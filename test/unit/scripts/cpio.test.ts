import { newcArchive } from '../../../scripts/cpio';

/** An independent newc reader: each member's header fields, name and data. */
function readNewc(archive: Buffer) {
  const members = [];
  let at = 0;
  const align4 = (n: number): number => (n + 3) & ~3;
  for (;;) {
    expect(at % 4).toBe(0);
    expect(archive.toString('latin1', at, at + 6)).toBe('070701');
    const field = (i: number): number =>
      parseInt(archive.toString('latin1', at + 6 + i * 8, at + 14 + i * 8), 16);
    const header = {
      ino: field(0),
      mode: field(1),
      uid: field(2),
      gid: field(3),
      nlink: field(4),
      mtime: field(5),
      size: field(6),
      rdevMajor: field(9),
      rdevMinor: field(10),
      check: field(12),
    };
    const nameSize = field(11);
    const nameAt = at + 110;
    expect(archive[nameAt + nameSize - 1]).toBe(0);
    const name = archive.toString('utf8', nameAt, nameAt + nameSize - 1);
    const dataAt = align4(nameAt + nameSize);
    const data = archive.subarray(dataAt, dataAt + header.size);
    at = align4(dataAt + header.size);
    if (name === 'TRAILER!!!') break;
    members.push({ name, ...header, data });
  }
  expect(at).toBe(archive.length);
  return members;
}

describe('newcArchive', () => {
  const archive = newcArchive([
    { path: '/bin', type: 'dir' },
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: Buffer.from([1, 2, 3, 4, 5]) },
    { path: 'bin/sh', type: 'symlink', target: 'busybox' },
    { path: 'dev/console', type: 'char', major: 5, minor: 1 },
    { path: 'init', type: 'file', mode: 0o755, data: '#!/bin/sh\n' },
    { path: 'etc/empty', type: 'file' },
  ]);
  const members = readNewc(archive);

  it('writes every entry in order, with leading slashes dropped, then the trailer', () => {
    expect(members.map((m) => m.name)).toEqual([
      'bin',
      'bin/busybox',
      'bin/sh',
      'dev/console',
      'init',
      'etc/empty',
    ]);
    expect(new Set(members.map((m) => m.ino)).size).toBe(members.length);
  });

  it('gives each entry its type and permission bits', () => {
    expect(members.map((m) => m.mode.toString(8))).toEqual([
      '40755',
      '100755',
      '120777',
      '20600',
      '100755',
      '100644',
    ]);
  });

  it('stores file contents and symlink targets as data', () => {
    expect([...members[1].data]).toEqual([1, 2, 3, 4, 5]);
    expect(members[2].data.toString()).toBe('busybox');
    expect(members[4].data.toString()).toBe('#!/bin/sh\n');
    expect(members[5].size).toBe(0);
  });

  it("stores a character device's numbers", () => {
    expect([members[3].rdevMajor, members[3].rdevMinor]).toEqual([5, 1]);
  });

  it('is reproducible: owner root, mtime 0', () => {
    for (const m of members) expect([m.uid, m.gid, m.mtime, m.check]).toEqual([0, 0, 0, 0]);
    expect(newcArchive([{ path: 'a', type: 'file', data: 'x' }])).toEqual(
      newcArchive([{ path: 'a', type: 'file', data: 'x' }]),
    );
  });

  it.each(['', '/', 'a/../b'])('refuses the path %j', (path) => {
    expect(() => newcArchive([{ path, type: 'dir' }])).toThrow(/^cpio: bad path/);
  });
});
