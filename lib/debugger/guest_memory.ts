import type { MemoryRegion, Vmm } from '../vmm/vmm';
import { Access } from '../vmm/vmm';

const PAGE = 0x1000n;
const ADDRESS_MASK = 0xffffffffffffffffn;

/** A piece of a guest-virtual range that lies in one guest page. */
export interface PhysicalChunk {
  gpa: bigint;
  length: number;
}

function inRam(regions: MemoryRegion[], gpa: bigint, length: number): boolean {
  return regions.some(
    (r) => gpa >= BigInt(r.gpa) && gpa + BigInt(length) <= BigInt(r.gpa) + BigInt(r.size),
  );
}

/**
 * Translates a guest-virtual range page by page through the vCPU's page
 * tables. Stops at the first page that is unmapped or not guest RAM: the
 * chunks cover the accessible prefix.
 */
export function translateRange(
  vmm: Vmm,
  vcpu: number,
  address: bigint,
  length: number,
  access: number = Access.read,
): PhysicalChunk[] {
  const chunks: PhysicalChunk[] = [];
  const regions = vmm.memoryRegions();
  let done = 0;
  while (done < length) {
    const gla = (address + BigInt(done)) & ADDRESS_MASK;
    const chunk = Math.min(Number(PAGE - (gla % PAGE)), length - done);
    const gpa = vmm.gla2gpa(vcpu, gla, access);
    if (gpa === undefined || !inRam(regions, gpa, chunk)) break;
    chunks.push({ gpa, length: chunk });
    done += chunk;
  }
  return chunks;
}

/**
 * Reads guest-virtual memory page by page through the vCPU's page tables.
 * Returns the readable prefix: empty when the first byte is unmapped.
 */
export function readVirtual(vmm: Vmm, vcpu: number, address: bigint, length: number): Buffer {
  const parts = translateRange(vmm, vcpu, address, length).map((c) =>
    vmm.readPhysical(Number(c.gpa), c.length),
  );
  return Buffer.concat(parts);
}

/**
 * A guest-physical range as chunks that stop at page boundaries, as
 * translateRange gives them: the prefix that is guest RAM.
 */
export function physicalRange(vmm: Vmm, address: bigint, length: number): PhysicalChunk[] {
  const chunks: PhysicalChunk[] = [];
  const regions = vmm.memoryRegions();
  let done = 0;
  while (done < length) {
    const gpa = address + BigInt(done);
    const chunk = Math.min(Number(PAGE - (gpa % PAGE)), length - done);
    if (!inRam(regions, gpa, chunk)) break;
    chunks.push({ gpa, length: chunk });
    done += chunk;
  }
  return chunks;
}
