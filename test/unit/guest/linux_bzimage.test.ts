import { BootError, planBoot, type BootOptions } from '../../../lib/guest';
import { buildElf, guestMemory, multibootHeader } from './image_builder';
import { buildBzImage, KERNEL_BYTES } from './linux_image';

const MiB = 1024 * 1024;
const options: BootOptions = { memorySize: 64 * MiB, cmdline: 'console=ttyS0', cpus: 1 };

function bootError(image: Buffer, opts: Partial<BootOptions> = {}): string {
  try {
    planBoot(image, { ...options, ...opts });
  } catch (error) {
    expect(error).toBeInstanceOf(BootError);
    return (error as Error).message;
  }
  throw new Error('planBoot accepted the image');
}

describe('bzImage detection and placement', () => {
  it('loads the protected-mode kernel at pref_address and enters it 0x200 in', () => {
    const plan = planBoot(buildBzImage(), options);
    expect(plan.format).toBe('bzimage');
    expect(plan.entry).toBe(0x1000200n);
    expect(plan.bsp.rip).toBe(0x1000200n);
    const memory = guestMemory(plan, options.memorySize);
    expect(memory.subarray(0x1000000, 0x1000000 + KERNEL_BYTES.length)).toEqual(KERNEL_BYTES);
  });

  it('loads a kernel that is not relocatable at 1 MiB', () => {
    const plan = planBoot(buildBzImage({ relocatable: false }), options);
    expect(plan.entry).toBe(0x100200n);
    const memory = guestMemory(plan, options.memorySize);
    expect(memory[0x100200]).toBe(0xfa);
  });

  it('takes setup_sects 0 as 4', () => {
    const plan = planBoot(buildBzImage({ setupSects: 0 }), options);
    expect(guestMemory(plan, options.memorySize)[0x1000200]).toBe(0xfa);
  });

  it('wins over a Multiboot header in the same image', () => {
    const image = buildBzImage();
    multibootHeader().copy(image, 0x1000);
    expect(planBoot(image, options).format).toBe('bzimage');
  });
});

describe('bzImage refusals', () => {
  it('refuses a protocol older than 2.12', () => {
    expect(bootError(buildBzImage({ version: 0x020b }))).toBe(
      'bzImage boot protocol 2.11 is too old: 2.12 or later is needed for the 64-bit entry (Linux 3.8+)',
    );
  });

  it('refuses a kernel without a 64-bit entry', () => {
    expect(bootError(buildBzImage({ xloadflags: 0x7e }))).toMatch(
      /^bzImage has no 64-bit entry \(XLF_KERNEL_64 clear/,
    );
  });

  it('refuses a bad boot_flag as a corrupt header', () => {
    expect(bootError(buildBzImage({ bootFlag: 0x1234 }))).toBe(
      'corrupt bzImage: boot_flag at 0x1fe is 0x1234, expected 0xaa55',
    );
  });

  it('refuses a setup header length that cannot hold the 2.12 fields', () => {
    expect(bootError(buildBzImage({ headerLength: 0x30 }))).toMatch(
      /^corrupt bzImage: the setup header ends at 0x232/,
    );
  });

  it.each([
    ['inside the setup header', 0x240],
    ['inside the setup sectors', 0x500],
    ['before the 64-bit entry', 4 * 512 + 0x100],
    ['short of syssize', 4 * 512 + 0x2000],
  ])('refuses an image truncated %s', (_where, length) => {
    expect(bootError(buildBzImage().subarray(0, length))).toMatch(/^truncated/);
  });

  it('refuses an initrd or kernel that needs more memory than there is', () => {
    expect(bootError(buildBzImage({ initSize: 0x4000000 }))).toBe(
      'memory too small for the kernel: it needs memory up to 0x5000000 (its run-time address 0x1000000 + init_size 0x4000000), have 0x4000000',
    );
  });

  it('refuses a pref_address below 1 MiB', () => {
    expect(bootError(buildBzImage({ prefAddress: 0x8000 }))).toMatch(
      /^corrupt bzImage: pref_address 0x8000/,
    );
  });
});

describe('bzImage command line limits', () => {
  it('takes a command line of exactly cmdline_size bytes', () => {
    const plan = planBoot(buildBzImage({ cmdlineSize: 16 }), {
      ...options,
      cmdline: 'x'.repeat(16),
    });
    expect(plan.format).toBe('bzimage');
  });

  it('refuses a command line longer than cmdline_size', () => {
    expect(bootError(buildBzImage({ cmdlineSize: 16 }), { cmdline: 'x'.repeat(17) })).toBe(
      'cmdline is 17 bytes; the kernel takes at most 16 (cmdline_size)',
    );
  });

  it('refuses a NUL in the command line', () => {
    expect(bootError(buildBzImage(), { cmdline: 'a\0b' })).toBe('cmdline contains a NUL character');
  });
});

describe('initrd placement limits', () => {
  it('refuses an initrd bigger than the RAM above the kernel', () => {
    // The kernel needs [16 MiB, 20 MiB); 64 MiB of RAM leaves 44 MiB.
    expect(bootError(buildBzImage(), { initrd: Buffer.alloc(45 * MiB) })).toBe(
      "initrd is 47185920 bytes, too big for the 46137344 bytes between the kernel's end (0x1400000) and the end of RAM (0x4000000)",
    );
  });

  it('refuses an initrd that only fits above initrd_addr_max', () => {
    const image = buildBzImage({ initrdAddrMax: 0x17fffff });
    expect(bootError(image, { initrd: Buffer.alloc(8 * MiB) })).toBe(
      "initrd is 8388608 bytes, too big for the 4194304 bytes between the kernel's end (0x1400000) and initrd_addr_max (0x17fffff)",
    );
  });

  it('places the initrd as high as initrd_addr_max allows when RAM goes further', () => {
    const image = buildBzImage({ initrdAddrMax: 0x1ffffff });
    const plan = planBoot(image, { ...options, initrd: Buffer.alloc(0x1800, 7) });
    const memory = guestMemory(plan, options.memorySize);
    const addr = memory.readUInt32LE(0x90000 + 0x218);
    expect(addr).toBe(0x2000000 - 0x2000);
    expect(memory.readUInt32LE(0x90000 + 0x21c)).toBe(0x1800);
    expect(memory.subarray(addr, addr + 0x1800).every((b) => b === 7)).toBe(true);
  });

  it('refuses an empty initrd', () => {
    expect(bootError(buildBzImage(), { initrd: Buffer.alloc(0) })).toBe('initrd is empty');
  });

  it('refuses an initrd that is not a Buffer', () => {
    expect(bootError(buildBzImage(), { initrd: 'initrd.gz' as unknown as Buffer })).toBe(
      '"initrd" is not a Buffer',
    );
  });

  it.each([
    [
      'a plain ELF64 kernel',
      buildElf({ entry: 0x100000, segments: [{ vaddr: 0x100000, data: Buffer.alloc(16) }] }),
    ],
    [
      'a Multiboot kernel',
      buildElf({
        entry: 0x100000,
        segments: [{ vaddr: 0x100000, data: Buffer.alloc(16) }],
        patches: [{ offset: 0x400, bytes: multibootHeader() }],
      }),
    ],
  ])('refuses an initrd for %s', (kind, image) => {
    expect(bootError(image, { initrd: Buffer.alloc(16) })).toBe(
      `an initrd is for Linux kernels; this image is ${kind}`,
    );
  });
});
