import type { LoadSegment } from './segments';

/** A Linux kernel image, read and placed: what the Linux boot planner needs from either format. */
export interface LinuxKernel {
  format: 'bzimage' | 'vmlinux';
  /** What to load, at guest-physical addresses. */
  segments: LoadSegment[];
  /** The physical address of the 64-bit entry. */
  entry: bigint;
  /** The first byte past the memory the kernel needs while it starts (nothing else may go below it). */
  end: number;
  /** How `end` was reached, for messages. */
  endReason: string;
  /** The setup header to copy into boot_params at 0x1f1 (built for a vmlinux). */
  setupHeader: Buffer;
  /** The longest command line the kernel takes, NUL not counted. */
  cmdlineSize: number;
  /** The highest address the initrd may occupy. */
  initrdAddrMax: number;
}
