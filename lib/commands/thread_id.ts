/** Thread ids on the wire are vCPU + 1, in hex, as in bhyve's stub. */
export function threadIdOf(vcpu: number): string {
  return (vcpu + 1).toString(16);
}

/** Thread id -1: every thread. */
export const ALL_THREADS = -1;
/** Thread id 0: any thread the stub picks. */
export const ANY_THREAD = -2;

/**
 * Parses a thread id into a vCPU index, ALL_THREADS or ANY_THREAD.
 * Undefined when malformed.
 */
export function parseThreadId(text: string): number | undefined {
  if (text === '-1') return ALL_THREADS;
  if (!/^[0-9a-fA-F]{1,8}$/.test(text)) return undefined;
  const id = parseInt(text, 16);
  return id === 0 ? ANY_THREAD : id - 1;
}
