import { planBoot } from '../../../lib/guest';
import { mpTableWrite } from '../../../lib/guest/mptable';
import { guestMemory } from './image_builder';
import { buildBzImage } from './linux_image';

/*
 * An independent reader of Intel MP spec 1.4 tables, done the way Linux
 * finds them: scan 0xf0000-0xfffff for "_MP_" on 16-byte boundaries.
 */

interface Processor {
  apicId: number;
  apicVersion: number;
  enabled: boolean;
  bsp: boolean;
}

interface ParsedMpTable {
  pointerAt: number;
  specRevision: number;
  features: number[];
  lapicAddress: number;
  oem: string;
  processors: Processor[];
  buses: { id: number; type: string }[];
  entryTypes: number[];
}

function sum(bytes: Buffer): number {
  return bytes.reduce((a, b) => (a + b) & 0xff, 0);
}

function parseMpTable(memory: Buffer): ParsedMpTable {
  let pointerAt = -1;
  for (let at = 0xf0000; at < 0x100000; at += 16) {
    if (memory.toString('latin1', at, at + 4) === '_MP_') {
      pointerAt = at;
      break;
    }
  }
  if (pointerAt < 0) throw new Error('no MP floating pointer in 0xf0000-0xfffff');
  const pointer = memory.subarray(pointerAt, pointerAt + 16 * memory[pointerAt + 8]);
  expect(pointer[8]).toBe(1);
  expect(sum(pointer)).toBe(0);
  const tableAt = pointer.readUInt32LE(4);
  expect(memory.toString('latin1', tableAt, tableAt + 4)).toBe('PCMP');
  const length = memory.readUInt16LE(tableAt + 4);
  const table = memory.subarray(tableAt, tableAt + length);
  expect(sum(table)).toBe(0);
  expect(table.readUInt16LE(40)).toBe(0); // no extended table

  const processors: Processor[] = [];
  const buses: { id: number; type: string }[] = [];
  const entryTypes: number[] = [];
  let at = 44;
  for (let i = 0; i < table.readUInt16LE(34); i++) {
    const type = table[at];
    entryTypes.push(type);
    if (type === 0) {
      processors.push({
        apicId: table[at + 1],
        apicVersion: table[at + 2],
        enabled: (table[at + 3] & 1) !== 0,
        bsp: (table[at + 3] & 2) !== 0,
      });
      at += 20;
    } else if (type >= 1 && type <= 4) {
      if (type === 1)
        buses.push({ id: table[at + 1], type: table.toString('latin1', at + 2, at + 8) });
      at += 8;
    } else {
      throw new Error(`unknown MP entry type ${type}`);
    }
  }
  expect(at).toBe(length);
  return {
    pointerAt,
    specRevision: table[6],
    features: [...pointer.subarray(11, 16)],
    lapicAddress: table.readUInt32LE(36),
    oem: table.toString('latin1', 8, 16),
    processors,
    buses,
    entryTypes,
  };
}

function memoryWith(cpus: number): Buffer {
  const write = mpTableWrite(cpus);
  const memory = Buffer.alloc(0x100000);
  write.data.copy(memory, write.gpa);
  return memory;
}

describe('the MP table', () => {
  it.each([1, 2, 4, 255])('lists %i CPUs with APIC id = vCPU index and the BSP on 0', (cpus) => {
    const parsed = parseMpTable(memoryWith(cpus));
    expect(parsed.processors).toEqual(
      Array.from({ length: cpus }, (_, i) => ({
        apicId: i,
        apicVersion: 0x14,
        enabled: true,
        bsp: i === 0,
      })),
    );
  });

  it('sits in the BIOS area where Linux scans, spec 1.4, with the local APIC at 0xfee00000', () => {
    const parsed = parseMpTable(memoryWith(2));
    expect(parsed.pointerAt).toBe(0xf0000);
    expect(parsed.specRevision).toBe(4);
    expect(parsed.lapicAddress).toBe(0xfee00000);
    // No default configuration, no IMCR: virtual wire mode.
    expect(parsed.features).toEqual([0, 0, 0, 0, 0]);
  });

  it('has one ISA bus, local interrupt entries and no I/O APIC', () => {
    const parsed = parseMpTable(memoryWith(2));
    expect(parsed.buses).toEqual([{ id: 0, type: 'ISA   ' }]);
    expect(parsed.entryTypes).not.toContain(2);
    expect(parsed.entryTypes).not.toContain(3);
    expect(parsed.entryTypes.filter((t) => t === 4)).toHaveLength(2);
  });

  it('is written for a Linux boot, fitting below 1 MiB', () => {
    const plan = planBoot(buildBzImage(), { memorySize: 64 << 20, cmdline: '', cpus: 3 });
    const parsed = parseMpTable(guestMemory(plan, 64 << 20));
    expect(parsed.processors.map((p) => p.apicId)).toEqual([0, 1, 2]);
    const write = mpTableWrite(255);
    expect(write.gpa + write.data.length).toBeLessThanOrEqual(0x100000);
  });
});
