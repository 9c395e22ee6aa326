import type { Debugger } from '../debugger/debugger';
import { parseHexBigInt } from '../rsp/hex';
import { Access, type MemoryRegion } from '../vmm/vmm';
import { Errors, type Command } from './types';

/*
 * `qMemoryRegionInfo:<addr>`: lldb's question "what is mapped at addr". The
 * answer comes from the Hg vCPU's page tables, page by page: a page is
 * mapped when it translates to guest RAM (an MMIO page or a fault is
 * unmapped: the debugger cannot read it), and its permissions are what the
 * vCPU at its current privilege could do there (write: W bit, or CR0.WP
 * clear in the kernel; execute: no NX). The region is the run of pages alike
 * around addr, clipped to the aligned 2 MiB block that holds addr: the
 * answer costs at most 512 page walks, and regions of neighbouring blocks
 * never overlap, so lldb can walk them in order.
 */

const PAGE = 0x1000n;
const BLOCK = 0x200000n;
const ADDRESS_SPACE = 1n << 64n;

/** A page's permissions (`r`, `rw`, `rx`, `rwx`), or undefined when it is not RAM. */
type PageAccess = string | undefined;

function inRam(regions: readonly MemoryRegion[], gpa: bigint): boolean {
  return regions.some((r) => gpa >= BigInt(r.gpa) && gpa < BigInt(r.gpa) + BigInt(r.size));
}

function pageAccess(
  dbg: Debugger,
  vcpu: number,
  regions: readonly MemoryRegion[],
  page: bigint,
): PageAccess {
  const gpa = dbg.vmm.gla2gpa(vcpu, page, Access.read);
  if (gpa === undefined || !inRam(regions, gpa)) return undefined;
  const writable = dbg.vmm.gla2gpa(vcpu, page, Access.write) !== undefined;
  const executable = dbg.vmm.gla2gpa(vcpu, page, Access.exec) !== undefined;
  return 'r' + (writable ? 'w' : '') + (executable ? 'x' : '');
}

/** The region around address: [start, end) and its permissions (undefined: unmapped). */
export function memoryRegionAt(
  dbg: Debugger,
  vcpu: number,
  address: bigint,
): { start: bigint; end: bigint; access: PageAccess } {
  const regions = dbg.vmm.memoryRegions();
  const page = address - (address % PAGE);
  const blockStart = address - (address % BLOCK);
  const blockEnd = blockStart + BLOCK;
  const access = pageAccess(dbg, vcpu, regions, page);
  let start = page;
  while (start > blockStart && pageAccess(dbg, vcpu, regions, start - PAGE) === access) {
    start -= PAGE;
  }
  let end = page + PAGE;
  while (end < blockEnd && pageAccess(dbg, vcpu, regions, end) === access) end += PAGE;
  return { start, end, access };
}

/** The region holding the address; `permissions:` only for a mapped one, as lldb reads it. */
export const qMemoryRegionInfo: Command<bigint> = {
  prefix: 'qMemoryRegionInfo:',
  parse: (body) => {
    const address = parseHexBigInt(body);
    return address !== undefined && address < ADDRESS_SPACE ? address : undefined;
  },
  handle: ({ debugger: dbg, session }, address) => {
    if (dbg.vmm.vcpuState(session.generalVcpu) === 'running') return Errors.fault;
    const { start, end, access } = memoryRegionAt(dbg, session.generalVcpu, address);
    const range = `start:${start.toString(16)};size:${(end - start).toString(16)};`;
    return access === undefined ? range : `${range}permissions:${access};`;
  },
};
