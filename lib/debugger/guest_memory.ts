import type { MemoryRegion, Vmm } from '../vmm/vmm';
import { Access } from '../vmm/vmm';

const PAGE = 0x1000n;
const ADDRESS_MASK = 0xffffffffffffffffn;

/**
 * A piece of a guest range that is contiguous in guest-physical memory and
 * lies inside one RAM region (so one readPhysical or writePhysical covers it).
 */
export interface PhysicalChunk {
  gpa: bigint;
  length: number;
}

/** The RAM region holding all of [gpa, gpa + length), if one does. */
function regionOf(regions: MemoryRegion[], gpa: bigint, length: number): number {
  for (let i = 0; i < regions.length; i++) {
    const r = regions[i]!;
    if (gpa >= BigInt(r.gpa) && gpa + BigInt(length) <= BigInt(r.gpa) + BigInt(r.size)) return i;
  }
  return -1;
}

/** Appends a page's piece, merged into the last chunk when it continues it in the same region. */
class ChunkList {
  readonly chunks: PhysicalChunk[] = [];
  private lastRegion = -1;

  add(gpa: bigint, length: number, region: number): void {
    const last = this.chunks[this.chunks.length - 1];
    if (
      last !== undefined &&
      region === this.lastRegion &&
      last.gpa + BigInt(last.length) === gpa
    ) {
      last.length += length;
      return;
    }
    this.chunks.push({ gpa, length });
    this.lastRegion = region;
  }
}

/**
 * Translates a guest-virtual range page by page through the vCPU's page
 * tables. Stops at the first page that is unmapped or not guest RAM: the
 * chunks cover the accessible prefix, physically contiguous pages merged.
 */
export function translateRange(
  vmm: Vmm,
  vcpu: number,
  address: bigint,
  length: number,
  access: number = Access.read,
): PhysicalChunk[] {
  const list = new ChunkList();
  const regions = vmm.memoryRegions();
  let done = 0;
  while (done < length) {
    const gla = (address + BigInt(done)) & ADDRESS_MASK;
    const chunk = Math.min(Number(PAGE - (gla % PAGE)), length - done);
    const gpa = vmm.gla2gpa(vcpu, gla, access);
    if (gpa === undefined) break;
    const region = regionOf(regions, gpa, chunk);
    if (region < 0) break;
    list.add(gpa, chunk, region);
    done += chunk;
  }
  return list.chunks;
}

/**
 * A guest-physical range as translateRange gives them: the prefix that is
 * guest RAM, one chunk per RAM region it crosses.
 */
export function physicalRange(vmm: Vmm, address: bigint, length: number): PhysicalChunk[] {
  const list = new ChunkList();
  const regions = vmm.memoryRegions();
  let done = 0;
  while (done < length) {
    const gpa = address + BigInt(done);
    const chunk = Math.min(Number(PAGE - (gpa % PAGE)), length - done);
    const region = regionOf(regions, gpa, chunk);
    if (region < 0) break;
    list.add(gpa, chunk, region);
    done += chunk;
  }
  return list.chunks;
}

/**
 * Reads chunks into one buffer, each passed through `filter` (breakpoint
 * shadows, patched in place): into `into` when given (it must hold them
 * all; the result is a view of it), else a single chunk is the vmm's own
 * copy and several are copied into one buffer allocated once.
 */
export function readChunks(
  vmm: Vmm,
  chunks: readonly PhysicalChunk[],
  filter: (gpa: bigint, data: Buffer) => Buffer = (_gpa, data) => data,
  into?: Buffer,
): Buffer {
  if (into !== undefined) {
    let offset = 0;
    for (const c of chunks) {
      vmm.readPhysicalInto(Number(c.gpa), c.length, into, offset);
      filter(c.gpa, into.subarray(offset, offset + c.length));
      offset += c.length;
    }
    return into.subarray(0, offset);
  }
  if (chunks.length === 1) {
    const only = chunks[0]!;
    return filter(only.gpa, vmm.readPhysical(Number(only.gpa), only.length));
  }
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const c of chunks) {
    offset += filter(c.gpa, vmm.readPhysical(Number(c.gpa), c.length)).copy(out, offset);
  }
  return out;
}

/**
 * Reads guest-virtual memory through the vCPU's page tables.
 * Returns the readable prefix: empty when the first byte is unmapped.
 */
export function readVirtual(vmm: Vmm, vcpu: number, address: bigint, length: number): Buffer {
  return readChunks(vmm, translateRange(vmm, vcpu, address, length));
}
