/**
 * Why a kernel image or a boot option was refused. The message is one line
 * that names the problem, fit to print as is.
 */
export class BootError extends Error {
  override readonly name = 'BootError';
}

/** `0x`-prefixed lower-case hex, the form every loader message uses for addresses. */
export function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}
