import { BootError, planBoot, type BootOptions } from '../../../lib/guest';
import { buildElf, guestMemory } from './image_builder';
import { buildVmlinux, elfNote, KERNEL_MAP, LINUX_NOTE } from './linux_image';

const MiB = 1024 * 1024;
const options: BootOptions = { memorySize: 64 * MiB, cmdline: 'console=ttyS0', cpus: 1 };
const HIGHER_HALF_REFUSAL =
  /needs p_vaddr == p_paddr \(higher-half kernels need a Multiboot header\)$/;

describe('vmlinux detection', () => {
  it('takes an ELF64 with a note owned by "Linux" as a vmlinux', () => {
    expect(planBoot(buildVmlinux([LINUX_NOTE]), options).format).toBe('vmlinux');
  });

  it('takes Xen\'s guest-OS note saying "linux" as a vmlinux', () => {
    const image = buildVmlinux([elfNote('GNU', 3, Buffer.alloc(20)), elfNote('Xen', 6, 'linux\0')]);
    expect(planBoot(image, options).format).toBe('vmlinux');
  });

  it.each([
    ['no notes', []],
    ['only a GNU build-id note', [elfNote('GNU', 3, Buffer.alloc(20))]],
    ['a Xen guest-OS note for another system', [elfNote('Xen', 6, 'netbsd\0')]],
    ['a "Linux" name in a different note field', [elfNote('Linu', 0x100, 'Linux')]],
  ])('leaves an ELF64 with %s to the plain ELF64 rules', (_what, notes) => {
    expect(() => planBoot(buildVmlinux(notes), options)).toThrow(HIGHER_HALF_REFUSAL);
  });

  it('ignores a note segment that runs past the end of the file', () => {
    const image = buildVmlinux([LINUX_NOTE]);
    const truncated = image.subarray(0, image.length - 4);
    expect(() => planBoot(truncated, options)).toThrow(HIGHER_HALF_REFUSAL);
  });

  it('stops at a note whose sizes run past its segment, however large', () => {
    const huge = Buffer.alloc(12);
    huge.writeUInt32LE(0x80000000, 0); // namesz: negative once aligned with 32-bit bitwise ops
    huge.writeUInt32LE(4, 4);
    expect(() => planBoot(buildVmlinux([huge, LINUX_NOTE]), options)).toThrow(HIGHER_HALF_REFUSAL);
  });

  it('keeps a plain identity-mapped ELF64 kernel as it was, notes or not', () => {
    const image = buildElf({
      entry: 0x200000,
      segments: [
        { vaddr: 0x200000, data: Buffer.alloc(16, 0x90) },
        { type: 4, vaddr: 0x201000, data: elfNote('GNU', 3, Buffer.alloc(20)) },
      ],
    });
    expect(planBoot(image, options).format).toBe('elf64');
  });
});

describe('vmlinux placement', () => {
  it('loads each PT_LOAD at p_paddr and zero-fills past p_filesz', () => {
    const plan = planBoot(buildVmlinux(), options);
    const memory = guestMemory(plan, options.memorySize);
    expect(memory[0x1000000]).toBe(0xfa);
    expect(memory.subarray(0x1200000, 0x1201000).every((b) => b === 1)).toBe(true);
    expect(memory.subarray(0x1201000, 0x1203000).every((b) => b === 0)).toBe(true);
    // The percpu segment is linked at 0 but loads at its physical address.
    expect(memory[0x1400000]).toBe(2);
  });

  it('enters at a physical e_entry as it is', () => {
    const plan = planBoot(buildVmlinux([LINUX_NOTE], 0x1000010n), options);
    expect(plan.bsp.rip).toBe(0x1000010n);
  });

  it('converts a virtual e_entry in the kernel map through the PT_LOAD holding it', () => {
    const plan = planBoot(buildVmlinux([LINUX_NOTE], KERNEL_MAP + 0x1000020n), options);
    expect(plan.bsp.rip).toBe(0x1000020n);
  });

  it('refuses a virtual e_entry outside every PT_LOAD', () => {
    expect(() => planBoot(buildVmlinux([LINUX_NOTE], KERNEL_MAP + 0x5000000n), options)).toThrow(
      new BootError('vmlinux entry point 0xffffffff85000000 is not inside any PT_LOAD'),
    );
  });

  it('refuses a kernel that does not fit in memory', () => {
    expect(() => planBoot(buildVmlinux(), { ...options, memorySize: 16 * MiB })).toThrow(
      /^memory too small for the image/,
    );
  });

  it('builds a 2.15 setup header in boot_params', () => {
    const plan = planBoot(buildVmlinux(), { ...options, initrd: Buffer.alloc(100) });
    const memory = guestMemory(plan, options.memorySize);
    const page = memory.subarray(Number(plan.bsp.rsi), Number(plan.bsp.rsi) + 0x1000);
    expect(page.readUInt16LE(0x1fe)).toBe(0xaa55);
    expect(page.toString('latin1', 0x202, 0x206)).toBe('HdrS');
    expect(page.readUInt16LE(0x206)).toBe(0x020f);
    expect(page[0x210]).toBe(0xff);
    expect(page.readUInt16LE(0x236) & 1).toBe(1); // XLF_KERNEL_64
    expect(page.readUInt32LE(0x238)).toBe(2047); // cmdline_size
    expect(page.readUInt32LE(0x22c)).toBe(0x7fffffff); // initrd_addr_max
    expect(page.readUInt32LE(0x21c)).toBe(100);
    // Kernel [16 MiB, 20 MiB + 4 KiB) as init_size from pref_address.
    expect(page.readBigUInt64LE(0x258)).toBe(0x1000000n);
    expect(page.readUInt32LE(0x260)).toBe(0x401000);
  });
});
