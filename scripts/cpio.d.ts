export type CpioEntry =
  | { path: string; type: 'dir'; mode?: number }
  | { path: string; type: 'file'; mode?: number; data?: Buffer | string }
  | { path: string; type: 'symlink'; target: string }
  | { path: string; type: 'char'; mode?: number; major: number; minor: number };

export function newcArchive(entries: readonly CpioEntry[]): Buffer;
export const MODE_DIRECTORY: number;
export const MODE_FILE: number;
export const MODE_SYMLINK: number;
export const MODE_CHAR_DEVICE: number;
