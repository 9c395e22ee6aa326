import * as fs from 'node:fs';

/** Where the guest's COM1 output goes. */
export type SerialTarget = { kind: 'stdio' } | { kind: 'file'; path: string };

export interface ConsoleSink {
  write(data: Buffer): void;
  close(): void;
}

/** Opens the serial console's destination; a file is created or truncated. */
export function openConsole(target: SerialTarget): ConsoleSink {
  if (target.kind === 'stdio') {
    return { write: (data) => process.stdout.write(data), close: () => undefined };
  }
  const fd = fs.openSync(target.path, 'w');
  return {
    write: (data) => fs.writeSync(fd, data),
    close: () => fs.closeSync(fd),
  };
}

/** Parses `stdio` or `file:PATH`; undefined when it is neither. */
export function parseSerialTarget(text: string): SerialTarget | undefined {
  if (text === 'stdio') return { kind: 'stdio' };
  if (text.startsWith('file:') && text.length > 5) return { kind: 'file', path: text.slice(5) };
  return undefined;
}
