import fc from 'fast-check';
import { BulkMemory, ReceiveMemory, unescapeWithSimd } from '../../../lib/rsp/bulk_codec';
import { checksum } from '../../../lib/rsp/checksum';
import { withoutWebAssembly } from '../../support/without_webassembly';
import { binaryPayload, escapeBinary } from '../../../lib/rsp/binary';
import { hexPayload } from '../../../lib/rsp/hex';
import {
  assembleModule,
  emit,
  growToHold,
  instantiate,
  s32,
  u32,
  WASM_PAGE,
  webAssembly,
} from '../../../lib/rsp/wasm_module';

const READ_BYTES = 0x10000;
const FRAME_BYTES = 0x20100;

/** The JavaScript encoders' output for `payload`: the reference the codec must match. */
function reference(payload: ReturnType<typeof hexPayload>): { bytes: Buffer; sum: number } {
  const out = Buffer.alloc(payload.maxLength);
  const { length, sum } = payload.encodeInto(out, 0);
  return { bytes: out.subarray(0, length), sum };
}

/** Copies `data` into the memory's read buffer at `shift` (any alignment). */
function place(memory: BulkMemory, data: Uint8Array, shift: number): Buffer {
  const input = memory.readBuffer.subarray(shift, shift + data.length);
  input.set(data);
  return input;
}

/** Bytes where every 16-byte block mixes clean and escaped ones, as in x's worst cases. */
const escapeHeavy = fc
  .uint8Array({ minLength: 0, maxLength: 2000 })
  .map((bytes) =>
    bytes.map((byte, i) => (i % 3 === 0 ? [0x23, 0x24, 0x7d, 0x2a][byte & 3]! : byte)),
  );

describe('BulkMemory (WebAssembly SIMD codec)', () => {
  const memory = BulkMemory.create(READ_BYTES, FRAME_BYTES);

  it('is available on this Node', () => {
    expect(memory).toBeDefined();
  });

  it('hex-encodes exactly as the JavaScript encoder, sum included, at any alignment', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000, size: 'max' }),
        fc.nat(15),
        fc.nat(40),
        (data, shift, offset) => {
          const input = place(memory!, data, shift);
          const sum = memory!.hexInto(input, memory!.frameBuffer, offset);
          const expected = reference(hexPayload(Buffer.from(data)));
          expect(sum).toBe(expected.sum);
          expect(memory!.frameBuffer.subarray(offset, offset + 2 * data.length)).toEqual(
            expected.bytes,
          );
        },
      ),
      { endOnFailure: true },
    );
  });

  it('escapes exactly as the JavaScript escaper, in any room, with and without a prefix', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 3000, size: 'max' }), escapeHeavy),
        fc.nat(15),
        fc.constantFrom('', 'b'),
        fc.integer({ min: 0, max: 6000 }),
        (data, shift, prefix, extra) => {
          const input = place(memory!, data, shift);
          const full = prefix.length + 2 * data.length;
          const room = Math.min(full, prefix.length + extra);
          const frame = memory!.frameBuffer;
          // Past the room: a sentinel the escaper must never touch.
          frame.fill(0xee, 0, room + 64);
          const { length, sum } = memory!.escapeInto(input, prefix, room, frame, 0);
          const expected = reference(binaryPayload(Buffer.from(data), prefix, room));
          expect(sum).toBe(expected.sum);
          expect(frame.subarray(0, length)).toEqual(expected.bytes);
          expect(frame.subarray(room, room + 64).every((byte) => byte === 0xee)).toBe(true);
        },
      ),
      { numRuns: 300, endOnFailure: true },
    );
  });

  it('escapes a long run of escaped bytes in the vector path, and sums it', () => {
    const data = Buffer.alloc(4096, 0x7d);
    const input = place(memory!, data, 0);
    const { length, sum } = memory!.escapeInto(input, '', 2 * data.length, memory!.frameBuffer, 0);
    expect(length).toBe(8192);
    expect(memory!.frameBuffer.subarray(0, length)).toEqual(
      Buffer.from('}]'.repeat(4096), 'latin1'),
    );
    expect(sum).toBe((4096 * (0x7d + 0x5d)) & 0xff);
  });

  it('refuses output that does not fit the frame instead of writing past it', () => {
    const input = memory!.readBuffer.subarray(0, 100);
    const frame = memory!.frameBuffer.subarray(0, 150);
    expect(() => memory!.hexInto(input, frame, 0)).toThrow(RangeError);
    expect(() => memory!.escapeInto(input, 'b', 10, frame, 150)).toThrow(RangeError);
  });

  it('escapes only as far as the frame reaches when the room is larger', () => {
    const input = place(memory!, Buffer.alloc(100, 0x41), 0);
    const frame = memory!.frameBuffer.subarray(0, 50);
    memory!.frameBuffer.fill(0xee, 50, 200);
    expect(memory!.escapeInto(input, '', 200, frame, 0).length).toBe(50);
    expect(memory!.frameBuffer.subarray(50, 200).every((byte) => byte === 0xee)).toBe(true);
  });

  it('is the codec only for data and frame both in its memory', () => {
    const other = BulkMemory.create(READ_BYTES, FRAME_BYTES)!;
    expect(BulkMemory.holding(memory!.readBuffer, memory!.frameBuffer)).toBe(memory);
    expect(BulkMemory.holding(memory!.readBuffer, other.frameBuffer)).toBeUndefined();
    expect(BulkMemory.holding(Buffer.alloc(8), memory!.frameBuffer)).toBeUndefined();
  });

  it('is what hexPayload and binaryPayload use for data and frame in one memory', () => {
    const data = Buffer.from(Array.from({ length: 999 }, (_, i) => (i * 7 + 3) & 0xff));
    const input = place(memory!, data, 1);
    const hex = hexPayload(input);
    const frame = memory!.frameBuffer;
    frame.fill(0);
    const viaCodec = hex.encodeInto(frame, 4);
    expect(viaCodec).toEqual({ length: 1998, sum: reference(hexPayload(data)).sum });
    expect(frame.subarray(4, 4 + 1998).toString('latin1')).toBe(data.toString('hex'));
    const binary = binaryPayload(input, 'b', 3000);
    expect(binary.encodeInto(frame, 0).sum).toBe(reference(binaryPayload(data, 'b', 3000)).sum);
  });

  it('falls back where no WebAssembly memory can be had', () => {
    const api = webAssembly as unknown as { Memory: unknown };
    const saved = api.Memory;
    api.Memory = function exhausted() {
      throw new RangeError('WebAssembly.Memory(): could not allocate memory');
    };
    try {
      expect(BulkMemory.create(READ_BYTES, FRAME_BYTES)).toBeUndefined();
      expect(ReceiveMemory.create(READ_BYTES, READ_BYTES)).toBeUndefined();
    } finally {
      api.Memory = saved;
    }
  });

  it('falls back where WebAssembly is missing: no memories, no SIMD unescaping', () => {
    withoutWebAssembly(() => {
      const isolated =
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        require('../../../lib/rsp/bulk_codec') as typeof import('../../../lib/rsp/bulk_codec');
      expect(isolated.BulkMemory.create(READ_BYTES, FRAME_BYTES)).toBeUndefined();
      expect(isolated.ReceiveMemory.create(READ_BYTES, READ_BYTES)).toBeUndefined();
      expect(isolated.unescapeWithSimd(Buffer.from('a}]'))).toBeNull();
    });
  });
});

describe('ReceiveMemory', () => {
  it('sums any length as checksum() does', () => {
    const memory = ReceiveMemory.create(8192, 8192)!;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8000, size: 'max' }), (data) => {
        memory.buffer.set(data);
        expect(memory.sum(data.length)).toBe(checksum(data));
      }),
      { endOnFailure: true },
    );
  });

  it('grows up to its limit keeping its contents, and refuses sums past its end', () => {
    const memory = ReceiveMemory.create(100, 300_000)!;
    const first = memory.buffer;
    first.fill(0x5a, 0, 100);
    const grown = memory.grow(200_000);
    expect(grown.length).toBeGreaterThanOrEqual(200_000);
    expect(grown.subarray(0, 100).every((byte) => byte === 0x5a)).toBe(true);
    expect(memory.buffer).toBe(grown);
    expect(memory.sum(100)).toBe((100 * 0x5a) & 0xff);
    expect(() => memory.sum(grown.length + 1)).toThrow(RangeError);
    expect(() => memory.grow(400_000)).toThrow(RangeError);
  });
});

describe('unescapeWithSimd', () => {
  it('undoes escapeBinary for any bytes, and refuses data cut inside an escape', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 5000, size: 'max' }), escapeHeavy),
        (data) => {
          const escaped = escapeBinary(data);
          expect(unescapeWithSimd(escaped)).toEqual(Buffer.from(data));
          expect(unescapeWithSimd(Buffer.concat([escaped, Buffer.from('}')]))).toBeUndefined();
        },
      ),
      { endOnFailure: true },
    );
  });

  it('takes an escape that spans two 16-byte blocks', () => {
    const escaped = Buffer.concat([
      Buffer.alloc(15, 0x41),
      Buffer.from('}]'),
      Buffer.alloc(20, 0x42),
    ]);
    expect(unescapeWithSimd(escaped)).toEqual(
      Buffer.concat([Buffer.alloc(15, 0x41), Buffer.from('}'), Buffer.alloc(20, 0x42)]),
    );
  });
});

describe('wasm_module', () => {
  it('writes LEB128 as the format wants', () => {
    expect(u32(0)).toEqual([0]);
    expect(u32(127)).toEqual([0x7f]);
    expect(u32(128)).toEqual([0x80, 0x01]);
    expect(u32(0x4e)).toEqual([0x4e]);
    expect(s32(-1)).toEqual([0x7f]);
    expect(s32(63)).toEqual([0x3f]);
    expect(s32(64)).toEqual([0xc0, 0x00]);
    expect(s32(-16)).toEqual([0x70]);
    expect(s32(-129)).toEqual([0xff, 0x7e]);
  });

  it('assembles a module WebAssembly accepts', () => {
    const bytes = assembleModule(1, [
      {
        name: 'add',
        params: [0x7f, 0x7f],
        results: [0x7f],
        locals: [],
        // a += b + 300, then a.
        body: [...emit.add(0, [0x20, 1]), ...emit.add(0, 300), 0x20, 0],
      },
    ]);
    const wasm = webAssembly!;
    const memory = new wasm.Memory({ initial: 1 });
    const { add } = instantiate<{ add(a: number, b: number): number }>(
      wasm,
      new wasm.Module(bytes),
      memory,
    );
    expect(add(2, 40)).toBe(342);
  });

  it('grows a memory by whole pages to hold what is asked, and not when it already does', () => {
    const memory = new webAssembly!.Memory({ initial: 1, maximum: 4 });
    growToHold(memory, WASM_PAGE);
    expect(memory.buffer.byteLength).toBe(WASM_PAGE);
    growToHold(memory, WASM_PAGE + 1);
    expect(memory.buffer.byteLength).toBe(2 * WASM_PAGE);
    expect(() => growToHold(memory, 5 * WASM_PAGE)).toThrow(RangeError);
  });
});
