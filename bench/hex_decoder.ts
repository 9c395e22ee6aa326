import {
  assembleModule,
  emit,
  growToHold,
  I32,
  instantiate,
  Op,
  Simd,
  V128,
  VOID,
  webAssembly,
  type FunctionSpec,
  type WasmMemory,
} from '../lib/rsp/wasm_module';

/**
 * The benchmark client's decoder for m replies, in WebAssembly SIMD: 32 hex
 * digits an iteration. The client's own decoding is part of every m figure
 * it measures, and with a JavaScript table over digit pairs it was about
 * 25 ms of client CPU for a 16 MiB read (half the time a 10x-QEMU read may
 * take in all). gdb decodes in C.
 */

const INPUT_START = 64;

/**
 * decode(src, n, dst) -> bytes, or -1 when a character is not a hex digit:
 * the n (even) digits at src as n / 2 bytes at dst, upper or lower case.
 * Each 16 digits: digit or letter found by unsigned range compares, nibble
 * values picked with a bitselect, pairs joined in 16-bit lanes (first digit
 * high), two vectors narrowed into 16 bytes. The last n % 32 one at a time.
 */
function decodeFunction(): FunctionSpec {
  const [src, n, dst, end32, end, start, hi, lo, ok] = [0, 1, 2, 3, 4, 5, 6, 7, 8] as const;
  const [a, b] = [9, 10] as const;
  const { get, set, i32, simd } = emit;
  /** Replaces the 16 digits at src+offset by their nibbles; ANDs their validity into `ok`. */
  const nibbles = (offset: number, into: number): number[] => {
    const digit = [...get(into), ...emit.splat(0x30), ...simd(Simd.i8x16Sub)];
    const letter = [
      ...get(into),
      ...emit.splat(0x20),
      ...simd(Simd.or),
      ...emit.splat(0x61),
      ...simd(Simd.i8x16Sub),
    ];
    const isDigit = [...digit, ...emit.splat(10), ...simd(Simd.i8x16LtU)];
    const isLetter = [...letter, ...emit.splat(6), ...simd(Simd.i8x16LtU)];
    return [
      ...[...get(src), ...emit.v128Load(offset), ...set(into)],
      ...[
        ...get(ok),
        ...isDigit,
        ...isLetter,
        ...simd(Simd.or),
        ...simd(Simd.i8x16AllTrue),
        Op.i32And,
        ...set(ok),
      ],
      ...[
        ...digit,
        ...letter,
        ...emit.splat(10),
        ...simd(Simd.i8x16Add),
        ...isDigit,
        ...simd(Simd.bitselect),
        ...set(into),
      ],
    ];
  };
  /** The 8 bytes of a vector of 16 nibbles, in the low halves of its 16-bit lanes. */
  const joined = (vector: number): number[] => [
    ...[...get(vector), ...i32(4), ...simd(Simd.i16x8Shl)],
    ...[...get(vector), ...i32(8), ...simd(Simd.i16x8ShrU)],
    ...simd(Simd.or),
    ...emit.v128Const([0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0]),
    ...simd(Simd.and),
  ];
  /** The i32 nibble of the character in local `into`, or sets ok to 0. */
  const scalarNibble = (into: number): number[] => [
    // Letters: (c | 0x20) - 0x61 < 6; digits: c - 0x30 < 10.
    ...[...get(into), ...i32(0x30), Op.i32Sub, ...i32(10), Op.i32LtU],
    ...[...get(into), ...i32(0x20), Op.i32Or, ...i32(0x61), Op.i32Sub, ...i32(6), Op.i32LtU],
    ...[Op.i32Or, ...get(ok), Op.i32And, ...set(ok)],
    ...[...get(into), ...i32(0x30), Op.i32Sub],
    ...[...get(into), ...i32(0x20), Op.i32Or, ...i32(0x57), Op.i32Sub],
    ...[...get(into), ...i32(0x3a), Op.i32LtU, Op.select, ...set(into)],
  ];
  return {
    name: 'decode',
    params: [I32, I32, I32],
    results: [I32],
    locals: [I32, I32, I32, I32, I32, I32, V128, V128],
    body: [
      ...[...get(src), ...get(n), Op.i32Add, ...set(end)],
      ...[...get(src), ...get(n), ...i32(-32), Op.i32And, Op.i32Add, ...set(end32)],
      ...[...get(dst), ...set(start), ...i32(1), ...set(ok)],
      ...[Op.block, VOID, Op.loop, VOID],
      ...[...get(src), ...get(end32), Op.i32GeU, Op.brIf, 1],
      ...nibbles(0, a),
      ...nibbles(16, b),
      ...[
        ...get(dst),
        ...joined(a),
        ...joined(b),
        ...simd(Simd.i8x16NarrowI16x8U),
        ...emit.v128Store(0),
      ],
      ...emit.add(src, 32),
      ...emit.add(dst, 16),
      ...[Op.br, 0, Op.end, Op.end],
      ...[Op.block, VOID, Op.loop, VOID],
      ...[...get(src), ...i32(1), Op.i32Add, ...get(end), Op.i32GeU, Op.brIf, 1],
      ...[...get(src), ...emit.load8(0), ...set(hi), ...scalarNibble(hi)],
      ...[...get(src), ...emit.load8(1), ...set(lo), ...scalarNibble(lo)],
      ...[...get(dst), ...get(hi), ...i32(4), Op.i32Shl, ...get(lo), Op.i32Or, ...emit.store8(0)],
      ...emit.add(src, 2),
      ...emit.add(dst, 1),
      ...[Op.br, 0, Op.end, Op.end],
      ...[...get(dst), ...get(start), Op.i32Sub, ...i32(-1), ...get(ok), Op.select],
    ],
  };
}

let decoder:
  { memory: WasmMemory; decode(src: number, n: number, dst: number): number } | undefined;

function instance(): NonNullable<typeof decoder> {
  if (decoder === undefined) {
    if (webAssembly === undefined) throw new Error('the benchmark client needs WebAssembly');
    const memory = new webAssembly.Memory({ initial: 1 });
    const module = new webAssembly.Module(assembleModule(1, [decodeFunction()]));
    const { decode } = instantiate<{ decode(src: number, n: number, dst: number): number }>(
      webAssembly,
      module,
      memory,
    );
    decoder = { memory, decode };
  }
  return decoder;
}

/**
 * Decodes the hex digits of `hex` (an even number) into out[offset...];
 * returns how many bytes that was. Throws on a character that is not a hex
 * digit, or when out is too short.
 */
export function hexDecodeInto(hex: Uint8Array, out: Uint8Array, offset: number): number {
  if (hex.length % 2 !== 0) throw new Error(`odd number of hex digits: ${hex.length}`);
  const bytes = hex.length / 2;
  if (offset + bytes > out.length) throw new Error(`${bytes} bytes do not fit at ${offset}`);
  const { memory, decode } = instance();
  growToHold(memory, INPUT_START + hex.length + bytes);
  const view = new Uint8Array(memory.buffer);
  view.set(hex, INPUT_START);
  const outAt = INPUT_START + hex.length;
  if (decode(INPUT_START, hex.length, outAt) < 0) throw new Error('m reply is not hex');
  out.set(view.subarray(outAt, outAt + bytes), offset);
  return bytes;
}
