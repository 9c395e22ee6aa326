import { planBoot, type BootOptions, type BootPlan } from '../../../lib/guest';
import { cString, guestMemory, translate } from './image_builder';
import { buildBzImage } from './linux_image';

const MiB = 1024 * 1024;
const options: BootOptions = {
  memorySize: 64 * MiB,
  cmdline: 'console=ttyS0 quiet',
  cpus: 2,
  initrd: Buffer.alloc(0x2345, 0x5a),
};
const image = buildBzImage();

function boot(opts: BootOptions = options): { plan: BootPlan; memory: Buffer; zeroPage: Buffer } {
  const plan = planBoot(image, opts);
  const memory = guestMemory(plan, opts.memorySize);
  const zeroPage = memory.subarray(Number(plan.bsp.rsi), Number(plan.bsp.rsi) + 0x1000);
  return { plan, memory, zeroPage };
}

describe('boot_params (the zero page)', () => {
  const { memory, zeroPage } = boot();

  it('is pointed at by RSI, page-aligned below the EBDA', () => {
    const { plan } = boot();
    expect(plan.bsp.rsi % 0x1000n).toBe(0n);
    expect(plan.bsp.rsi + 0x1000n).toBeLessThanOrEqual(0x9fc00n);
  });

  it('holds the setup header copied from the image, 0x1f1 up to its end', () => {
    // Fields the loader fills are overwritten; everything else is the image's.
    const filled = new Set<number>();
    for (const [offset, size] of [
      [0x210, 2], // type_of_loader, loadflags
      [0x214, 4], // code32_start
      [0x218, 8], // ramdisk_image, ramdisk_size
      [0x224, 2], // heap_end_ptr
      [0x228, 4], // cmd_line_ptr
    ]) {
      for (let i = 0; i < size; i++) filled.add(offset + i);
    }
    for (let offset = 0x1f1; offset < 0x26c; offset++) {
      if (!filled.has(offset)) expect([offset, zeroPage[offset]]).toEqual([offset, image[offset]]);
    }
    expect(zeroPage.toString('latin1', 0x202, 0x206)).toBe('HdrS');
    expect(zeroPage.readUInt16LE(0x1fe)).toBe(0xaa55);
  });

  it('names an undefined loader and sets CAN_USE_HEAP, keeping LOADED_HIGH', () => {
    expect(zeroPage[0x210]).toBe(0xff);
    expect(zeroPage[0x211]).toBe(0x81);
    expect(zeroPage.readUInt16LE(0x224)).toBe(0xfe00);
  });

  it('points cmd_line_ptr at the NUL-terminated command line', () => {
    const ptr = zeroPage.readUInt32LE(0x228) + zeroPage.readUInt32LE(0x0c8) * 2 ** 32;
    expect(cString(memory, ptr)).toBe('console=ttyS0 quiet');
  });

  it('places the initrd page-aligned at the top of RAM and describes it', () => {
    const addr = zeroPage.readUInt32LE(0x218);
    const size = zeroPage.readUInt32LE(0x21c);
    expect(zeroPage.readUInt32LE(0x0c0)).toBe(0); // ext_ramdisk_image
    expect(zeroPage.readUInt32LE(0x0c4)).toBe(0); // ext_ramdisk_size
    expect(size).toBe(0x2345);
    expect(addr % 0x1000).toBe(0);
    expect(addr + size).toBeLessThanOrEqual(64 * MiB);
    expect(64 * MiB - (addr + size)).toBeLessThan(0x1000);
    expect(memory.subarray(addr, addr + size).equals(Buffer.alloc(size, 0x5a))).toBe(true);
  });

  it('leaves the ramdisk fields zero without an initrd', () => {
    const page = boot({ ...options, initrd: undefined }).zeroPage;
    expect(page.readUInt32LE(0x218)).toBe(0);
    expect(page.readUInt32LE(0x21c)).toBe(0);
  });

  it('carries the e820 map', () => {
    const count = zeroPage[0x1e8];
    const entries = Array.from({ length: count }, (_, i) => {
      const at = 0x2d0 + i * 20;
      return [
        Number(zeroPage.readBigUInt64LE(at)),
        Number(zeroPage.readBigUInt64LE(at + 8)),
        zeroPage.readUInt32LE(at + 16),
      ];
    });
    expect(entries).toEqual([
      [0, 0x9fc00, 1],
      [0x9fc00, 0x60400, 2],
      [0x100000, 63 * MiB, 1],
    ]);
  });

  it('zeroes screen_info, acpi_rsdp_addr and the sentinel', () => {
    expect(zeroPage.subarray(0, 0x40).every((b) => b === 0)).toBe(true);
    expect(zeroPage.readBigUInt64LE(0x70)).toBe(0n);
    expect(zeroPage[0x1ef]).toBe(0);
  });
});

describe('the 64-bit entry state', () => {
  const { plan, memory, zeroPage } = boot();
  const regs = plan.bsp;

  it('is long mode with interrupts off', () => {
    expect(regs.efer & 0x500n).toBe(0x500n);
    expect(regs.cr0 & 0x80000001n).toBe(0x80000001n);
    expect(regs.rflags & 0x200n).toBe(0n);
  });

  it('uses __BOOT_CS 0x10 (64-bit code) and __BOOT_DS 0x18 from the loader GDT', () => {
    expect(regs.cs.selector).toBe(0x10);
    expect(regs.cs.access & 0x2000).not.toBe(0); // L
    for (const seg of [regs.ds, regs.es, regs.ss]) expect(seg.selector).toBe(0x18);
    const gdt = Number(regs.gdtr.base);
    expect(regs.gdtr.limit).toBeGreaterThanOrEqual(0x1f);
    const code = memory.readBigUInt64LE(gdt + 0x10);
    const data = memory.readBigUInt64LE(gdt + 0x18);
    expect((code >> 40n) & 0xffn).toBe(0x9bn);
    expect((code >> 53n) & 1n).toBe(1n); // L
    expect((data >> 40n) & 0xffn).toBe(0x93n);
  });

  it('identity-maps the kernel, boot_params, the command line and the initrd', () => {
    const addresses = [
      0x1000200n,
      regs.rsi,
      BigInt(zeroPage.readUInt32LE(0x228)),
      BigInt(zeroPage.readUInt32LE(0x218)),
      BigInt(64 * MiB - 1),
    ];
    for (const a of addresses) expect(translate(memory, regs.cr3, a)).toBe(a);
  });
});
