import { NO_SUCH_ANNEX, parseXferRead, xferReply, type XferRead } from './qxfer';
import type { Command } from './types';

/** Addresses below this, or at or above 2^64 minus it, are canonical even with 5-level paging. */
const CANONICAL_HALF = 1n << 56n;
const ADDRESS_SPACE = 1n << 64n;

/**
 * What gdb may access: the two canonical halves of the x86-64 address
 * space, as RAM. gdb reads the map once per connection and then refuses
 * every address outside it, in one address space that is guest-virtual
 * (and guest-physical after `monitor phys on`). A map of guest RAM at its
 * physical addresses would make gdb refuse a higher-half kernel's symbols;
 * one made from the page tables would go stale as soon as the guest changed
 * them (at a Multiboot entry paging is not even on yet). So the map only
 * rules out what no paging mode reaches (non-canonical addresses, 57-bit
 * rule so that LA57 guests lose nothing); the page tables and the RAM
 * bounds decide the rest, and the stub answers E for what they refuse.
 * Guest RAM (below 2^52, the architectural MAXPHYADDR limit) lies in the
 * lower half, so phys mode reaches all of it.
 */
export const MEMORY_MAP: readonly { start: bigint; length: bigint }[] = [
  { start: 0n, length: CANONICAL_HALF },
  // Ends at 2^64: gdb's region end wraps to 0, which it reads as "to the top".
  { start: ADDRESS_SPACE - CANONICAL_HALF, length: CANONICAL_HALF },
];

/** The memory map as gdb's memory-map.dtd has it. */
export function memoryMapXml(): Buffer {
  const regions = MEMORY_MAP.map(
    ({ start, length }) =>
      `  <memory type="ram" start="0x${start.toString(16)}" length="0x${length.toString(16)}"/>\n`,
  );
  return Buffer.from(
    '<?xml version="1.0"?>\n' +
      '<!DOCTYPE memory-map PUBLIC "+//IDN gnu.org//DTD GDB Memory Map V1.0//EN"' +
      ' "http://sourceware.org/gdb/gdb-memory-map.dtd">\n' +
      `<memory-map>\n${regions.join('')}</memory-map>\n`,
  );
}

const MEMORY_MAP_XML = memoryMapXml();

/** `qXfer:memory-map:read::<offset>,<length>`: the memory map above, in parts. */
export const qXferMemoryMapRead: Command<XferRead> = {
  prefix: 'qXfer:memory-map:read:',
  parse: parseXferRead,
  handle: ({ session }, request) => {
    if (request.annex !== '') return NO_SUCH_ANNEX;
    return xferReply(MEMORY_MAP_XML, request, session.packetSize);
  },
};
