import type { DebugSlot, DebugSlotKind, DebugSlots, Vmm } from '../vmm/vmm';

/** What gdb asks to watch: Z2 write, Z3 read, Z4 access. */
export type WatchKind = 'write' | 'read' | 'access';

/** One hardware breakpoint or watchpoint in a debug slot. */
export interface HardwareEntry {
  /** What was asked for: 'exec' (Z1) or a watch kind. */
  kind: 'exec' | WatchKind;
  address: bigint;
  length: 1 | 2 | 4 | 8;
  /**
   * A read watchpoint on a backend without read slots: an access slot, and a
   * hit that changed the bytes was a write, not reported. `snapshot` is what
   * the bytes held when the guest last resumed.
   */
  emulatedRead?: { snapshot: Buffer | undefined };
}

/** Why an insertion failed: no such slots on this backend, or all in use. */
export type InsertResult = 'ok' | 'unsupported' | 'full';

/**
 * The debugger's hardware breakpoints and watchpoints: one table of the
 * backend's debug slots, the same on every vCPU (x86: DR0-DR3, shared by
 * both kinds).
 *
 * Invariants:
 * - Every vCPU's slots are the table, except while `vcpu` steps over an
 *   execute slot (`applyWithout`), until `apply` restores it.
 * - Set semantics: inserting an entry already there is a no-op, one removal
 *   removes it (as for software breakpoints).
 */
export class HardwareSlots {
  private readonly table: (HardwareEntry | undefined)[];

  constructor(
    private readonly vmm: Vmm,
    private readonly vcpus: () => number[],
  ) {
    this.table = new Array<HardwareEntry | undefined>(this.slots?.count ?? 0).fill(undefined);
  }

  private get slots(): DebugSlots | undefined {
    return this.vmm.hwBreakpoints ?? this.vmm.watchpoints;
  }

  get size(): number {
    return this.entries().length;
  }

  /** The entry in slot `slot`, if it is in use. */
  entry(slot: number): HardwareEntry | undefined {
    return this.table[slot];
  }

  /** The entries in use, in slot order. */
  entries(): HardwareEntry[] {
    return this.table.filter((e): e is HardwareEntry => e !== undefined);
  }

  /** The execute slot at a guest-linear address, if there is one. */
  execSlotAt(address: bigint): number | undefined {
    const slot = this.table.findIndex((e) => e?.kind === 'exec' && e.address === address);
    return slot >= 0 ? slot : undefined;
  }

  /** Whether the backend can do `kind` at all. */
  supports(kind: 'exec' | WatchKind): boolean {
    return this.slotKind(kind) !== undefined;
  }

  insert(kind: 'exec' | WatchKind, address: bigint, length: 1 | 2 | 4 | 8): InsertResult {
    const slotKind = this.slotKind(kind);
    if (slotKind === undefined) return 'unsupported';
    if (this.find(kind, address, length) !== undefined) return 'ok';
    const free = this.table.indexOf(undefined);
    if (free < 0) return 'full';
    const entry: HardwareEntry = { kind, address, length };
    if (kind === 'read' && slotKind === 'access') entry.emulatedRead = { snapshot: undefined };
    this.table[free] = entry;
    try {
      this.applyAll();
    } catch (error) {
      this.table[free] = undefined;
      this.applyAll();
      throw error;
    }
    return 'ok';
  }

  /** False when there was no such entry. */
  remove(kind: 'exec' | WatchKind, address: bigint, length: 1 | 2 | 4 | 8): boolean {
    const slot = this.find(kind, address, length);
    if (slot === undefined) return false;
    this.table[slot] = undefined;
    this.applyAll();
    return true;
  }

  /** Frees every slot; never throws (used on every way out). */
  removeAll(): void {
    if (this.size === 0) return;
    this.table.fill(undefined);
    for (const vcpu of this.vcpus()) {
      try {
        this.slots?.set(vcpu, []);
      } catch {
        // the VM is gone
      }
    }
  }

  /** Sets one vCPU's slots to the table. */
  apply(vcpu: number): void {
    this.applyWithout(vcpu, undefined);
  }

  /** Sets one vCPU's slots to the table without `slot` (a step over it). */
  applyWithout(vcpu: number, slot: number | undefined): void {
    this.slots?.set(
      vcpu,
      this.table.map((entry, i) => (i === slot ? undefined : this.toSlot(entry))),
    );
  }

  private applyAll(): void {
    for (const vcpu of this.vcpus()) this.apply(vcpu);
  }

  private find(kind: 'exec' | WatchKind, address: bigint, length: number): number | undefined {
    const slot = this.table.findIndex(
      (e) => e?.kind === kind && e.address === address && (kind === 'exec' || e.length === length),
    );
    return slot >= 0 ? slot : undefined;
  }

  /** The slot kind that implements a request; read falls back to access (filtered). */
  private slotKind(kind: 'exec' | WatchKind): DebugSlotKind | undefined {
    const slots = kind === 'exec' ? this.vmm.hwBreakpoints : this.vmm.watchpoints;
    if (slots === undefined) return undefined;
    if (slots.kinds.includes(kind)) return kind;
    return kind === 'read' && slots.kinds.includes('access') ? 'access' : undefined;
  }

  private toSlot(entry: HardwareEntry | undefined): DebugSlot | undefined {
    if (entry === undefined) return undefined;
    return {
      address: entry.address,
      kind: this.slotKind(entry.kind)!,
      length: entry.kind === 'exec' ? 1 : entry.length,
    };
  }
}
