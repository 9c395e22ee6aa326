import { MP_TABLE_ADDR } from './layout';
import type { MemoryWrite } from './types';

/*
 * The Intel MultiProcessor Specification 1.4 tables that tell a kernel
 * without ACPI how many CPUs there are: a floating pointer structure (where
 * Linux scans, 0xf0000-0xfffff) and the configuration table right after it.
 * One processor entry per vCPU (APIC id = vCPU index, vCPU 0 the BSP), one
 * ISA bus, the local interrupts wired as on a PC in virtual wire mode, and no
 * I/O APIC entry: no backend models one, and Linux then routes the legacy
 * IRQs through the 8259 PIC.
 */

/** The local APIC's MMIO base, where every backend puts it. */
export const LOCAL_APIC_ADDR = 0xfee00000;
/** An integrated xAPIC, as on every x86-64 CPU. */
export const LOCAL_APIC_VERSION = 0x14;
/** Specification revision 1.4. */
const SPEC_REVISION = 4;

const FLOATING_POINTER_SIZE = 16;
const HEADER_SIZE = 44;
const PROCESSOR_ENTRY_SIZE = 20;
const BUS_ENTRY_SIZE = 8;
const LOCAL_INTERRUPT_ENTRY_SIZE = 8;

export const ENTRY_PROCESSOR = 0;
export const ENTRY_BUS = 1;
export const ENTRY_LOCAL_INTERRUPT = 4;

const CPU_ENABLED = 1 << 0;
const CPU_BOOTSTRAP = 1 << 1;
/** Family 6, model 0, stepping 0: what the table says of every CPU (Linux reads CPUID instead). */
const CPU_SIGNATURE = 0x600;
/** CPUID.1:EDX bits the table reports: FPU and APIC. */
const CPU_FEATURES = (1 << 0) | (1 << 9);

const INTERRUPT_EXTINT = 3;
const INTERRUPT_NMI = 1;
/** Destination local APIC id 0xff: every local APIC. */
const ALL_LOCAL_APICS = 0xff;

/** 8-bit two's-complement checksum that makes the bytes sum to zero. */
function checksum(bytes: Buffer): number {
  let sum = 0;
  for (const byte of bytes) sum = (sum + byte) & 0xff;
  return (0x100 - sum) & 0xff;
}

function configurationTable(cpus: number): Buffer {
  const entries: Buffer[] = [];
  for (let cpu = 0; cpu < cpus; cpu++) {
    const e = Buffer.alloc(PROCESSOR_ENTRY_SIZE);
    e[0] = ENTRY_PROCESSOR;
    e[1] = cpu;
    e[2] = LOCAL_APIC_VERSION;
    e[3] = CPU_ENABLED | (cpu === 0 ? CPU_BOOTSTRAP : 0);
    e.writeUInt32LE(CPU_SIGNATURE, 4);
    e.writeUInt32LE(CPU_FEATURES, 8);
    entries.push(e);
  }
  const bus = Buffer.alloc(BUS_ENTRY_SIZE);
  bus[0] = ENTRY_BUS;
  bus[1] = 0;
  bus.write('ISA   ', 2, 'latin1');
  entries.push(bus);
  // The 8259's output on the BSP's LINT0, NMI on every CPU's LINT1: a PC in virtual wire mode.
  for (const [type, lint] of [
    [INTERRUPT_EXTINT, 0],
    [INTERRUPT_NMI, 1],
  ]) {
    const e = Buffer.alloc(LOCAL_INTERRUPT_ENTRY_SIZE);
    e[0] = ENTRY_LOCAL_INTERRUPT;
    e[1] = type;
    e.writeUInt16LE(0, 2); // polarity and trigger mode conform to the bus
    e[4] = 0; // source bus: ISA
    e[5] = 0; // source bus IRQ
    e[6] = ALL_LOCAL_APICS;
    e[7] = lint;
    entries.push(e);
  }

  const body = Buffer.concat(entries);
  const table = Buffer.alloc(HEADER_SIZE + body.length);
  table.write('PCMP', 0, 'latin1');
  table.writeUInt16LE(table.length, 4);
  table[6] = SPEC_REVISION;
  table.write('VMMGDBST', 8, 'latin1'); // OEM id, 8 bytes
  table.write('VIRTUAL PC  ', 16, 'latin1'); // product id, 12 bytes
  table.writeUInt32LE(0, 28); // no OEM table
  table.writeUInt16LE(0, 32);
  table.writeUInt16LE(entries.length, 34);
  table.writeUInt32LE(LOCAL_APIC_ADDR, 36);
  // Extended table length and checksum (bytes 40-43) stay 0: there is no extended table.
  body.copy(table, HEADER_SIZE);
  table[7] = checksum(table);
  return table;
}

/** Bytes needed for `cpus` CPUs: the floating pointer and the configuration table. */
export function mpTableSize(cpus: number): number {
  return (
    FLOATING_POINTER_SIZE +
    HEADER_SIZE +
    cpus * PROCESSOR_ENTRY_SIZE +
    BUS_ENTRY_SIZE +
    2 * LOCAL_INTERRUPT_ENTRY_SIZE
  );
}

/** The MP floating pointer at MP_TABLE_ADDR with the configuration table right behind it. */
export function mpTableWrite(cpus: number): MemoryWrite {
  const tableAddr = MP_TABLE_ADDR + FLOATING_POINTER_SIZE;
  const pointer = Buffer.alloc(FLOATING_POINTER_SIZE);
  pointer.write('_MP_', 0, 'latin1');
  pointer.writeUInt32LE(tableAddr, 4);
  pointer[8] = 1; // length in 16-byte paragraphs
  pointer[9] = SPEC_REVISION;
  // Feature byte 1 = 0: the configuration table is present (no default configuration).
  // Feature byte 2 bit 7 clear: no IMCR, virtual wire mode.
  pointer[10] = checksum(pointer);
  return { gpa: MP_TABLE_ADDR, data: Buffer.concat([pointer, configurationTable(cpus)]) };
}
