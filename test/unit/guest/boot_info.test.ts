import { planBoot, type BootPlan } from '../../../lib/guest';
import { MAX_CMDLINE_BYTES } from '../../../lib/guest/boot_info';
import {
  BOOT_INFO_ADDR,
  BOOT_INFO_AREA_END,
  BOOT_INFO_SIZE,
  CMDLINE_ADDR,
  LOADER_NAME_ADDR,
  MMAP_ADDR,
} from '../../../lib/guest/layout';
import { buildElf, cString, guestMemory, multibootHeader } from './image_builder';

const MEMORY = 64 * 1024 * 1024 + 512;

function kernel(): Buffer {
  return buildElf({
    elfClass: 32,
    entry: 0x100000,
    segments: [{ vaddr: 0x100000, data: Buffer.alloc(0x10, 0xf4) }],
    patches: [{ offset: 0x200, bytes: multibootHeader({ flags: 0b10 }) }],
  });
}

function boot(cmdline: string, memorySize = MEMORY): { plan: BootPlan; memory: Buffer } {
  const plan = planBoot(kernel(), { memorySize, cmdline, cpus: 2 });
  return { plan, memory: guestMemory(plan, memorySize) };
}

describe('Multiboot information block', () => {
  it('is the address in EBX and sets flags mem, cmdline, mmap and loader name', () => {
    const { plan, memory } = boot('console=ttyS0');
    expect(plan.bsp.rbx).toBe(BigInt(BOOT_INFO_ADDR));
    expect(memory.readUInt32LE(BOOT_INFO_ADDR)).toBe((1 << 0) | (1 << 2) | (1 << 6) | (1 << 9));
  });

  it('gives mem_lower = 639 KiB and mem_upper = (memorySize - 1 MiB) / 1024, rounded down', () => {
    const { memory } = boot('');
    expect(memory.readUInt32LE(BOOT_INFO_ADDR + 4)).toBe(639);
    expect(memory.readUInt32LE(BOOT_INFO_ADDR + 8)).toBe(63 * 1024);
  });

  it('leaves every field it does not set zero (no modules, no symbols, no drives, no video)', () => {
    const { memory } = boot('');
    const info = memory.subarray(BOOT_INFO_ADDR, BOOT_INFO_ADDR + BOOT_INFO_SIZE);
    const setFields = new Set([0, 4, 8, 16, 44, 48, 64]);
    for (let offset = 0; offset < BOOT_INFO_SIZE; offset += 4) {
      if (!setFields.has(offset)) expect([offset, info.readUInt32LE(offset)]).toEqual([offset, 0]);
    }
  });

  it('passes the cmdline NUL-terminated at the address in the cmdline field', () => {
    const { memory } = boot('root=/dev/vda quiet é');
    const at = memory.readUInt32LE(BOOT_INFO_ADDR + 16);
    expect(at).toBe(CMDLINE_ADDR);
    const bytes = Buffer.from('root=/dev/vda quiet é', 'utf8');
    expect(memory.subarray(at, at + bytes.length + 1)).toEqual(
      Buffer.concat([bytes, Buffer.of(0)]),
    );
  });

  it('passes an empty cmdline as a lone NUL', () => {
    const { memory } = boot('');
    expect(memory[CMDLINE_ADDR]).toBe(0);
  });

  it('names the boot loader "vmm-gdbstub"', () => {
    const { memory } = boot('');
    const at = memory.readUInt32LE(BOOT_INFO_ADDR + 64);
    expect(at).toBe(LOADER_NAME_ADDR);
    expect(cString(memory, at)).toBe('vmm-gdbstub');
  });

  it('describes a PC-like memory map with size-20 entries', () => {
    const { memory } = boot('');
    const length = memory.readUInt32LE(BOOT_INFO_ADDR + 44);
    const addr = memory.readUInt32LE(BOOT_INFO_ADDR + 48);
    expect(addr).toBe(MMAP_ADDR);
    const entries: [number, bigint, bigint, number][] = [];
    for (let at = addr; at < addr + length;) {
      const size = memory.readUInt32LE(at);
      entries.push([
        size,
        memory.readBigUInt64LE(at + 4),
        memory.readBigUInt64LE(at + 12),
        memory.readUInt32LE(at + 20),
      ]);
      at += size + 4;
    }
    expect(entries).toEqual([
      [20, 0n, 0x9fc00n, 1],
      [20, 0x9fc00n, 0x400n, 2],
      [20, 0xf0000n, 0x10000n, 2],
      [20, 0x100000n, BigInt(MEMORY - 0x100000), 1],
    ]);
  });

  it('keeps the info struct, memory map, loader name and cmdline apart and inside the info area', () => {
    expect(BOOT_INFO_ADDR + BOOT_INFO_SIZE).toBeLessThanOrEqual(MMAP_ADDR);
    expect(MMAP_ADDR + 4 * 24).toBeLessThanOrEqual(LOADER_NAME_ADDR);
    expect(LOADER_NAME_ADDR + 'vmm-gdbstub'.length + 1).toBeLessThanOrEqual(CMDLINE_ADDR);
    const { plan } = boot('x'.repeat(MAX_CMDLINE_BYTES));
    const info = plan.writes.find((w) => w.gpa === BOOT_INFO_ADDR);
    expect(info?.data.length).toBe(BOOT_INFO_AREA_END - BOOT_INFO_ADDR);
  });

  it('refuses a cmdline that does not fit in the info area', () => {
    expect(() => boot('x'.repeat(MAX_CMDLINE_BYTES + 1))).toThrow(
      `cmdline is ${MAX_CMDLINE_BYTES + 1} bytes; at most ${MAX_CMDLINE_BYTES} fit in the boot info area`,
    );
  });

  it('refuses a cmdline with a NUL in it', () => {
    expect(() => boot('a\0b')).toThrow('cmdline contains a NUL character');
  });
});
