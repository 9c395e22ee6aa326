import { BootError, hex } from './errors';
import { LEGACY_HOLE, LOADER_AREA, MiB } from './layout';
import type { MemoryWrite } from './types';

/** A range of guest RAM filled from the image, then zero-filled up to memSize. */
export interface LoadSegment {
  /** How messages name it: "PT_LOAD #2", "the Multiboot load range". */
  name: string;
  gpa: number;
  fileOffset: number;
  fileSize: number;
  memSize: number;
}

const FOUR_GIB = 1n << 32n;
/** Zero runs reuse one chunk of at most this size, so a huge bss never means a huge allocation. */
const ZERO_CHUNK_SIZE = MiB;

/**
 * Builds a LoadSegment from 64-bit header values, refusing one that ends
 * beyond 4 GiB (guest RAM lives below 3 GiB, and this keeps every later
 * number exact).
 */
export function loadSegment(
  name: string,
  gpa: bigint,
  fileOffset: bigint,
  fileSize: bigint,
  memSize: bigint,
): LoadSegment {
  if (gpa + memSize > FOUR_GIB) {
    throw new BootError(
      `${name} [${hex(gpa)}, ${hex(gpa + memSize)}) lies beyond 4 GiB; guest RAM is below 3 GiB`,
    );
  }
  return {
    name,
    gpa: Number(gpa),
    fileOffset: Number(fileOffset),
    fileSize: Number(fileSize),
    memSize: Number(memSize),
  };
}

function describe(segment: LoadSegment): string {
  return `${segment.name} [${hex(segment.gpa)}, ${hex(segment.gpa + segment.memSize)})`;
}

function overlaps(segment: LoadSegment, area: { start: number; end: number }): boolean {
  return segment.gpa < area.end && segment.gpa + segment.memSize > area.start;
}

/**
 * Refuses segments that would clobber the loader's own data, land in the
 * legacy hole, not fit in guest RAM, or overlap each other.
 */
export function checkPlacement(segments: readonly LoadSegment[], memorySize: number): void {
  for (const segment of segments) {
    if (overlaps(segment, LOADER_AREA)) {
      throw new BootError(
        `${describe(segment)} overlaps the loader's low-memory area [${hex(LOADER_AREA.start)}, ${hex(LOADER_AREA.end)})`,
      );
    }
    if (overlaps(segment, LEGACY_HOLE)) {
      throw new BootError(
        `${describe(segment)} overlaps the legacy VGA/BIOS hole [${hex(LEGACY_HOLE.start)}, ${hex(LEGACY_HOLE.end)})`,
      );
    }
  }
  const needed = Math.max(...segments.map((s) => s.gpa + s.memSize));
  if (needed > memorySize) {
    throw new BootError(
      `memory too small for the image: needs ${needed} bytes, have ${memorySize}`,
    );
  }
  const sorted = [...segments].sort((a, b) => a.gpa - b.gpa);
  for (let i = 1; i < sorted.length; i++) {
    const before = sorted[i - 1];
    if (before.gpa + before.memSize > sorted[i].gpa) {
      throw new BootError(`${describe(before)} and ${describe(sorted[i])} overlap`);
    }
  }
}

/** The writes that load `segments`: copied file bytes, then the zero fill. */
export function segmentWrites(image: Buffer, segments: readonly LoadSegment[]): MemoryWrite[] {
  const writes: MemoryWrite[] = [];
  const longestZeroRun = Math.max(0, ...segments.map((s) => s.memSize - s.fileSize));
  const zeros = Buffer.alloc(Math.min(longestZeroRun, ZERO_CHUNK_SIZE));
  for (const segment of segments) {
    if (segment.fileSize > 0) {
      const bytes = image.subarray(segment.fileOffset, segment.fileOffset + segment.fileSize);
      // A copy, so the plan stays valid if the caller reuses the image buffer.
      writes.push({ gpa: segment.gpa, data: Buffer.from(bytes) });
    }
    const end = segment.gpa + segment.memSize;
    for (let gpa = segment.gpa + segment.fileSize; gpa < end; gpa += zeros.length) {
      writes.push({ gpa, data: zeros.subarray(0, Math.min(zeros.length, end - gpa)) });
    }
  }
  return writes;
}

/** Whether `address` is inside some segment's loaded range. */
export function containsAddress(segments: readonly LoadSegment[], address: bigint): boolean {
  return segments.some((s) => address >= BigInt(s.gpa) && address < BigInt(s.gpa + s.memSize));
}
