import type { Vmm } from '../vmm/vmm';

export const INT3 = 0xcc;

/**
 * Software breakpoints, keyed by guest-physical address, each with the byte
 * the 0xCC replaced (its shadow).
 *
 * Invariants:
 * - A key is in the table exactly while the debugger wants a 0xCC there; the
 *   table has set semantics (inserting twice is a no-op, one removal removes:
 *   gdb merges locations itself, and a count could leak a 0xCC forever).
 * - Guest memory holds 0xCC at every key unless the guest wrote over it; the
 *   shadow is what memory would hold without the debugger.
 * - Reads through `hide` see shadows, writes through `writeThrough` update
 *   shadows and keep the 0xCC; removal restores the shadow only if memory
 *   still holds 0xCC (the guest's own later write wins).
 * - Breakpoint exits are on exactly while the table is not empty.
 */
export class BreakpointTable {
  private readonly shadows = new Map<bigint, number>();

  constructor(private readonly vmm: Vmm) {}

  get size(): number {
    return this.shadows.size;
  }

  has(gpa: bigint): boolean {
    return this.shadows.has(gpa);
  }

  addresses(): bigint[] {
    return [...this.shadows.keys()];
  }

  /** The byte the 0xCC at `gpa` replaced; undefined when there is no breakpoint there. */
  shadowOf(gpa: bigint): number | undefined {
    return this.shadows.get(gpa);
  }

  /** Plants a 0xCC at `gpa`; throws (VmmError EFAULT) outside guest RAM. */
  insert(gpa: bigint): void {
    if (this.shadows.has(gpa)) return;
    const at = Number(gpa);
    const shadow = this.vmm.readPhysical(at, 1)[0]!;
    this.vmm.writePhysical(at, Buffer.from([INT3]));
    if (this.shadows.size === 0) this.vmm.setBreakpointExits(true);
    this.shadows.set(gpa, shadow);
  }

  /** Removes the breakpoint at `gpa`; false when there was none. */
  remove(gpa: bigint): boolean {
    const shadow = this.shadows.get(gpa);
    if (shadow === undefined) return false;
    this.shadows.delete(gpa);
    try {
      this.restore(gpa, shadow);
    } finally {
      if (this.shadows.size === 0) this.vmm.setBreakpointExits(false);
    }
    return true;
  }

  /** Removes every breakpoint; never throws (used on every way out). */
  removeAll(): void {
    for (const [gpa, shadow] of [...this.shadows]) {
      this.shadows.delete(gpa);
      try {
        this.restore(gpa, shadow);
      } catch {
        // RAM cannot vanish under us; nothing better to do if it did.
      }
    }
    try {
      this.vmm.setBreakpointExits(false);
    } catch {
      // the VM is gone
    }
  }

  /** Puts the original byte back for a moment (a step over it); `plant` undoes it. */
  lift(gpa: bigint): void {
    const shadow = this.shadows.get(gpa);
    if (shadow !== undefined) this.restore(gpa, shadow);
  }

  /** After `lift`: the 0xCC again, if the breakpoint is still wanted. */
  plant(gpa: bigint): void {
    const at = Number(gpa);
    if (!this.shadows.has(gpa)) return;
    // The guest may have written the byte while it stepped: that is the new shadow.
    this.shadows.set(gpa, this.vmm.readPhysical(at, 1)[0]!);
    this.vmm.writePhysical(at, Buffer.from([INT3]));
  }

  /** After a step over `gpa` the vmm did itself (0xCC back in place): what the step left is its shadow. */
  steppedOver(gpa: bigint, shadow: number): void {
    if (this.shadows.has(gpa)) this.shadows.set(gpa, shadow);
  }

  /** Replaces 0xCCs of ours in `data` (read from `gpa`) with their shadows. */
  hide(gpa: bigint, data: Buffer): Buffer {
    if (this.shadows.size === 0) return data;
    const end = gpa + BigInt(data.length);
    for (const [at, shadow] of this.shadows) {
      if (at >= gpa && at < end && data[Number(at - gpa)] === INT3) data[Number(at - gpa)] = shadow;
    }
    return data;
  }

  /** Writes `data` at `gpa`: bytes over a breakpoint become its shadow, the 0xCC stays. */
  writeThrough(gpa: bigint, data: Buffer): void {
    if (this.shadows.size === 0) {
      this.vmm.writePhysical(Number(gpa), data);
      return;
    }
    const out = Buffer.from(data);
    const end = gpa + BigInt(data.length);
    const updates: [bigint, number][] = [];
    for (const at of this.shadows.keys()) {
      if (at < gpa || at >= end) continue;
      updates.push([at, out[Number(at - gpa)]!]);
      out[Number(at - gpa)] = INT3;
    }
    this.vmm.writePhysical(Number(gpa), out);
    for (const [at, byte] of updates) this.shadows.set(at, byte);
  }

  private restore(gpa: bigint, shadow: number): void {
    const at = Number(gpa);
    if (this.vmm.readPhysical(at, 1)[0] === INT3) {
      this.vmm.writePhysical(at, Buffer.from([shadow]));
    }
  }
}
