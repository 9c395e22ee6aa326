// Writes "newc" cpio archives (the format the Linux initramfs unpacker reads).
'use strict';

const MODE_DIRECTORY = 0o040000;
const MODE_FILE = 0o100000;
const MODE_SYMLINK = 0o120000;
const MODE_CHAR_DEVICE = 0o020000;
const TRAILER = 'TRAILER!!!';

/** The 110-byte header: magic "070701" and thirteen 8-digit hex fields. */
function header(fields) {
  const hex = (value) => value.toString(16).padStart(8, '0');
  return Buffer.from(
    '070701' +
      [
        fields.ino,
        fields.mode,
        0, // uid
        0, // gid
        fields.nlink,
        0, // mtime: fixed, so the archive is reproducible
        fields.size,
        0, // devmajor
        0, // devminor
        fields.rdevMajor ?? 0,
        fields.rdevMinor ?? 0,
        fields.nameSize,
        0, // check
      ]
        .map(hex)
        .join(''),
    'latin1',
  );
}

/** Zero bytes that bring `length` up to a multiple of 4. */
function pad(length) {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

/**
 * A newc archive of `entries`, in order, then the trailer. Each entry is
 * `{ path, type: 'dir' | 'file' | 'symlink' | 'char', mode?, data?, target?,
 * major?, minor? }`: mode holds the permission bits (defaults 0o755 for
 * directories, 0o644 for files, 0o600 for devices), data a file's contents,
 * target a symlink's destination, major and minor a character device's
 * numbers.
 */
function newcArchive(entries) {
  const parts = [];
  let ino = 1;
  const add = (name, mode, nlink, data, rdev = {}) => {
    const nameBytes = Buffer.from(`${name}\0`, 'utf8');
    const head = header({
      ino: ino++,
      mode,
      nlink,
      size: data.length,
      nameSize: nameBytes.length,
      rdevMajor: rdev.major,
      rdevMinor: rdev.minor,
    });
    parts.push(head, nameBytes, pad(head.length + nameBytes.length), data, pad(data.length));
  };
  for (const entry of entries) {
    const name = entry.path.replace(/^\/+/, '');
    if (name === '' || name.split('/').includes('..')) {
      throw new Error(`cpio: bad path ${JSON.stringify(entry.path)}`);
    }
    if (entry.type === 'dir') {
      add(name, MODE_DIRECTORY | (entry.mode ?? 0o755), 2, Buffer.alloc(0));
    } else if (entry.type === 'file') {
      add(name, MODE_FILE | (entry.mode ?? 0o644), 1, Buffer.from(entry.data ?? ''));
    } else if (entry.type === 'symlink') {
      add(name, MODE_SYMLINK | 0o777, 1, Buffer.from(entry.target, 'utf8'));
    } else if (entry.type === 'char') {
      add(name, MODE_CHAR_DEVICE | (entry.mode ?? 0o600), 1, Buffer.alloc(0), entry);
    } else {
      throw new Error(`cpio: unknown entry type ${JSON.stringify(entry.type)}`);
    }
  }
  add(TRAILER, 0, 1, Buffer.alloc(0));
  return Buffer.concat(parts);
}

module.exports = { newcArchive, MODE_DIRECTORY, MODE_FILE, MODE_SYMLINK, MODE_CHAR_DEVICE };
