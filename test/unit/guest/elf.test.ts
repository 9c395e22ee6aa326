import { BootError, planBoot } from '../../../lib/guest';
import { buildElf, multibootHeader } from './image_builder';

const options = { memorySize: 16 * 1024 * 1024, cmdline: '', cpus: 1 };

function kernel64(overrides: Partial<Parameters<typeof buildElf>[0]> = {}): Buffer {
  return buildElf({
    entry: 0x100000,
    segments: [{ vaddr: 0x100000, data: Buffer.alloc(0x100, 0x90) }],
    ...overrides,
  });
}

function refusal(image: Buffer): string {
  try {
    planBoot(image, options);
  } catch (error) {
    expect(error).toBeInstanceOf(BootError);
    return (error as BootError).message;
  }
  throw new Error('planBoot accepted the image');
}

describe('ELF header checks', () => {
  it('refuses a file with neither ELF magic nor a Multiboot header', () => {
    expect(refusal(Buffer.from('#!/bin/sh\necho hello\n'))).toBe(
      'not a kernel: no ELF magic and no Multiboot header in the first 8192 bytes',
    );
    expect(refusal(Buffer.alloc(0))).toMatch(/^not a kernel/);
  });

  it('refuses a file cut inside the ELF identification', () => {
    expect(refusal(Buffer.from('\x7fELF\x02\x01', 'latin1'))).toBe(
      'truncated ELF header: file is 6 bytes',
    );
  });

  it('refuses a file cut inside the ELF64 header', () => {
    expect(refusal(kernel64().subarray(0, 40))).toBe(
      'truncated ELF64 header: needs 64 bytes, file has 40',
    );
  });

  it('refuses a big-endian ELF', () => {
    const image = kernel64();
    image[5] = 2;
    expect(refusal(image)).toBe('big-endian ELF: x86 kernels are little-endian');
  });

  it('refuses an unknown ELF class', () => {
    const image = kernel64();
    image[4] = 3;
    expect(refusal(image)).toBe('unknown ELF class 3 (expected 1 for ELF32 or 2 for ELF64)');
  });

  it('refuses an ELF64 that is not x86-64', () => {
    expect(refusal(kernel64({ machine: 183 /* AArch64 */ }))).toBe(
      'wrong machine: ELF64 e_machine is 183, expected 62 (x86-64)',
    );
  });

  it('refuses a Multiboot ELF32 that is not i386', () => {
    const image = buildElf({
      elfClass: 32,
      machine: 62,
      entry: 0x100000,
      segments: [{ vaddr: 0x100000, data: Buffer.alloc(16) }],
      patches: [{ offset: 0x80, bytes: multibootHeader() }],
    });
    expect(refusal(image)).toBe('wrong machine: ELF32 e_machine is 62, expected 3 (i386)');
  });

  it('refuses a relocatable or shared object', () => {
    expect(refusal(kernel64({ type: 3 /* ET_DYN */ }))).toBe(
      'not an executable: ELF e_type is 3, expected 2 (ET_EXEC)',
    );
  });

  it('refuses a 32-bit ELF without a Multiboot header', () => {
    const image = buildElf({
      elfClass: 32,
      entry: 0x100000,
      segments: [{ vaddr: 0x100000, data: Buffer.alloc(16) }],
    });
    expect(refusal(image)).toBe(
      '32-bit ELF without a Multiboot header: only Multiboot kernels may be 32-bit',
    );
  });

  it('refuses an ELF with no program headers', () => {
    expect(refusal(kernel64({ segments: [] }))).toBe(
      'ELF has no program headers, so nothing to load',
    );
  });

  it('refuses an ELF whose only PT_LOAD is empty', () => {
    expect(refusal(kernel64({ segments: [{ vaddr: 0x100000 }] }))).toBe(
      'ELF has no non-empty PT_LOAD segment, so nothing to load',
    );
  });

  it('refuses an absurd program header count without reading them', () => {
    const image = kernel64();
    image.writeUInt16LE(0xffff, 56);
    expect(refusal(image)).toBe('absurd ELF program header count 65535 (at most 1024 accepted)');
  });

  it('refuses a wrong e_phentsize', () => {
    const image = kernel64();
    image.writeUInt16LE(32, 54);
    expect(refusal(image)).toBe('bad ELF64 e_phentsize 32, expected 56');
  });

  it('refuses a program header table that runs past the end of the file', () => {
    const image = kernel64();
    image.writeBigUInt64LE(0xfffffffffffff000n, 32);
    expect(refusal(image)).toBe(
      'truncated image: program header table [0xfffffffffffff000, 0xfffffffffffff038) runs past the end of the file (4352 bytes)',
    );
  });

  it('refuses a segment whose file bytes run past the end of the file', () => {
    const image = kernel64({
      segments: [{ vaddr: 0x100000, data: Buffer.alloc(0x100), filesz: 0x200, memsz: 0x200 }],
    });
    expect(refusal(image)).toBe(
      'truncated image: PT_LOAD #0 file bytes [0x1000, 0x1200) run past the end of the file (4352 bytes)',
    );
  });

  it('refuses a segment with p_filesz larger than p_memsz', () => {
    const image = kernel64({
      segments: [{ vaddr: 0x100000, data: Buffer.alloc(0x100), memsz: 0x80 }],
    });
    expect(refusal(image)).toBe('PT_LOAD #0 has p_filesz 0x100 larger than p_memsz 0x80');
  });

  it('refuses a hostile p_memsz without allocating it', () => {
    const image = kernel64({
      segments: [{ vaddr: 0x100000, data: Buffer.alloc(0x100), memsz: 0xffffffffffffff00n }],
    });
    expect(refusal(image)).toMatch(/^PT_LOAD #0 \[0x100000, 0x[0-9a-f]+\) lies beyond 4 GiB/);
  });
});

describe('plain ELF64 placement checks', () => {
  it('refuses a segment whose virtual and physical addresses differ', () => {
    const image = kernel64({
      entry: 0xffffffff80100000n,
      segments: [{ vaddr: 0xffffffff80100000n, paddr: 0x100000, data: Buffer.alloc(0x10) }],
    });
    expect(refusal(image)).toBe(
      'PT_LOAD #0 is linked at virtual 0xffffffff80100000 but loads at physical 0x100000; a plain ELF64 kernel runs on identity page tables and needs p_vaddr == p_paddr (higher-half kernels need a Multiboot header)',
    );
  });

  it('refuses an entry point outside every PT_LOAD', () => {
    expect(refusal(kernel64({ entry: 0x100100 }))).toBe(
      'entry point 0x100100 is not inside any loaded segment',
    );
  });

  it.each([
    ['0x1000', '[0x1000, 0x1100)'],
    ['0x9ff00', '[0x9ff00, 0xa0000)'],
    ['0x8ff80', '[0x8ff80, 0x90080)'],
  ])('refuses a segment at %s inside the loader area', (at, range) => {
    const gpa = Number(at);
    const image = kernel64({ entry: gpa, segments: [{ vaddr: gpa, data: Buffer.alloc(0x100) }] });
    expect(refusal(image)).toBe(
      `PT_LOAD #0 ${range} overlaps the loader's low-memory area [0x1000, 0xa0000)`,
    );
  });

  it('refuses a segment in the legacy VGA/BIOS hole', () => {
    const image = kernel64({
      entry: 0xfff00,
      segments: [{ vaddr: 0xfff00, data: Buffer.alloc(0x200) }],
    });
    expect(refusal(image)).toBe(
      'PT_LOAD #0 [0xfff00, 0x100100) overlaps the legacy VGA/BIOS hole [0xa0000, 0x100000)',
    );
  });

  it('accepts a segment in page 0, below the loader area', () => {
    const image = kernel64({ entry: 0x10, segments: [{ vaddr: 0, data: Buffer.alloc(0x1000) }] });
    expect(planBoot(image, options).entry).toBe(0x10n);
  });

  it('refuses an image that needs more memory than the guest has', () => {
    const image = kernel64({
      segments: [{ vaddr: 0x100000, data: Buffer.alloc(0x100), memsz: 0x1000000 }],
    });
    expect(refusal(image)).toBe(
      `memory too small for the image: needs ${0x1100000} bytes, have ${16 * 1024 * 1024}`,
    );
  });

  it('refuses segments that overlap each other', () => {
    const image = kernel64({
      segments: [
        { vaddr: 0x100000, data: Buffer.alloc(0x100) },
        { vaddr: 0x1000ff, data: Buffer.alloc(0x10) },
      ],
    });
    expect(refusal(image)).toBe(
      'PT_LOAD #0 [0x100000, 0x100100) and PT_LOAD #1 [0x1000ff, 0x10010f) overlap',
    );
  });

  it('skips non-PT_LOAD and empty PT_LOAD headers', () => {
    const image = kernel64({
      segments: [
        { vaddr: 0x100000, data: Buffer.alloc(0x100, 0x90) },
        { vaddr: 0x1000, type: 0x6474e551 /* PT_GNU_STACK */ },
        { vaddr: 0x2000 },
      ],
    });
    const plan = planBoot(image, options);
    expect(plan.writes.filter((w) => w.gpa >= 0x100000).map((w) => w.gpa)).toEqual([0x100000]);
  });
});
