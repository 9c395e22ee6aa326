import { BootError, layout, planBoot } from '../../../lib/guest';
import { buildElf, multibootHeader, rawImage } from './image_builder';

const kernel = buildElf({
  entry: 0x100000,
  segments: [{ vaddr: 0x100000, data: Buffer.alloc(0x10, 0xf4) }],
});
const good = { memorySize: 16 * 1024 * 1024, cmdline: '', cpus: 1 };

describe('planBoot options', () => {
  it.each([
    ['below 2 MiB', 2 * 1024 * 1024 - 4096],
    ['above 3 GiB', 3 * 1024 * 1024 * 1024 + 4096],
    ['not an integer', 16 * 1024 * 1024 + 0.5],
    ['NaN', Number.NaN],
  ])('refuses a memorySize %s', (_what, memorySize) => {
    expect(() => planBoot(kernel, { ...good, memorySize })).toThrow(
      `"memorySize" must be an integer from 2097152 (2 MiB) to 3221225472 (3 GiB), got ${memorySize}`,
    );
  });

  it.each([0, 256, 1.5])('refuses cpus = %p', (cpus) => {
    expect(() => planBoot(kernel, { ...good, cpus })).toThrow(
      `"cpus" must be an integer from 1 to 255, got ${cpus}`,
    );
  });

  it('refuses an image that is not a Buffer', () => {
    expect(() => planBoot('kernel' as unknown as Buffer, good)).toThrow(
      new BootError('"image" is not a Buffer'),
    );
  });

  it('refuses options that are not an object', () => {
    expect(() => planBoot(kernel, null as unknown as typeof good)).toThrow(
      '"options" is not an object',
    );
  });

  it('refuses a cmdline that is not a string', () => {
    expect(() => planBoot(kernel, { ...good, cmdline: 7 as unknown as string })).toThrow(
      '"cmdline" is not a string',
    );
  });

  it('accepts the extremes of the memory range', () => {
    expect(planBoot(kernel, { ...good, memorySize: layout.MIN_MEMORY_SIZE }).format).toBe('elf64');
    expect(planBoot(kernel, { ...good, memorySize: layout.MAX_MEMORY_SIZE }).format).toBe('elf64');
  });
});

describe('planBoot format choice', () => {
  it('prefers a Multiboot header over the ELF64 headers', () => {
    const image = buildElf({
      entry: 0x100000,
      segments: [{ vaddr: 0x100000, data: Buffer.alloc(0x10) }],
      patches: [{ offset: 0x400, bytes: multibootHeader() }],
    });
    expect(planBoot(image, good).format).toBe('multiboot');
  });

  it('boots a plain x86-64 ELF executable as elf64', () => {
    expect(planBoot(kernel, good).format).toBe('elf64');
  });

  it('reports the BootError class name and a single-line message', () => {
    try {
      planBoot(rawImage(64), good);
      throw new Error('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(BootError);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name).toBe('BootError');
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it('keeps its writes independent of the caller reusing the image buffer', () => {
    const image = Buffer.from(kernel);
    const plan = planBoot(image, good);
    image.fill(0);
    const text = plan.writes.find((w) => w.gpa === 0x100000);
    expect(text?.data).toEqual(Buffer.alloc(0x10, 0xf4));
  });
});
