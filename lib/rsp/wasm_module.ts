/**
 * Just enough of the WebAssembly binary format to write the bulk codec's
 * few functions (bulk_codec.ts; the benchmark client's decoder too) from
 * TypeScript, with no toolchain: a module that imports one memory and
 * exports functions over i32 and v128 values, and the part of the
 * WebAssembly API that instantiates it. Opcodes are from the core and SIMD
 * binary encodings.
 */

export const I32 = 0x7f;
export const V128 = 0x7b;
/** The block type of a block, loop or if that yields nothing. */
export const VOID = 0x40;

export const Op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load8U: 0x2d,
  i32Store: 0x36,
  i32Store8: 0x3a,
  i32Const: 0x41,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32Ne: 0x47,
  i32LtU: 0x49,
  i32GtU: 0x4b,
  i32LeU: 0x4d,
  i32GeU: 0x4f,
  i32Ctz: 0x68,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32And: 0x71,
  i32Or: 0x72,
  i32Xor: 0x73,
  i32Shl: 0x74,
  i32ShrU: 0x76,
} as const;

/** SIMD instructions: the 0xfd prefix, then these (LEB128). */
export const Simd = {
  load: 0x00,
  store: 0x0b,
  const: 0x0c,
  shuffle: 0x0d,
  swizzle: 0x0e,
  i8x16Splat: 0x0f,
  i8x16ExtractLaneU: 0x16,
  i8x16Eq: 0x23,
  i8x16LtU: 0x26,
  and: 0x4e,
  or: 0x50,
  bitselect: 0x52,
  i8x16AllTrue: 0x63,
  i8x16Bitmask: 0x64,
  i8x16NarrowI16x8U: 0x66,
  i8x16ShrU: 0x6d,
  i8x16Add: 0x6e,
  i8x16Sub: 0x71,
  i16x8Shl: 0x8b,
  i16x8ShrU: 0x8d,
} as const;

/** Unsigned LEB128. */
export function u32(value: number): number[] {
  const out: number[] = [];
  let rest = value >>> 0;
  do {
    const byte = rest & 0x7f;
    rest >>>= 7;
    out.push(rest === 0 ? byte : byte | 0x80);
  } while (rest !== 0);
  return out;
}

/** Signed LEB128, for i32.const. */
export function s32(value: number): number[] {
  const out: number[] = [];
  let rest = value | 0;
  for (;;) {
    const byte = rest & 0x7f;
    rest >>= 7;
    const done = (rest === 0 && (byte & 0x40) === 0) || (rest === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** The instruction sequences a function body is written with. */
export const emit = {
  get: (local: number): number[] => [Op.localGet, ...u32(local)],
  set: (local: number): number[] => [Op.localSet, ...u32(local)],
  tee: (local: number): number[] => [Op.localTee, ...u32(local)],
  i32: (value: number): number[] => [Op.i32Const, ...s32(value)],
  simd: (op: number, ...immediates: number[]): number[] => [0xfd, ...u32(op), ...immediates],
  /** v128.load/store at the address on the stack plus `offset` (no alignment promised). */
  v128Load: (offset = 0): number[] => emit.simd(Simd.load, 0, ...u32(offset)),
  v128Store: (offset = 0): number[] => emit.simd(Simd.store, 0, ...u32(offset)),
  v128Const: (bytes: readonly number[]): number[] => emit.simd(Simd.const, ...bytes),
  /** A 16-byte vector with every lane `byte`. */
  splat: (byte: number): number[] => emit.v128Const(new Array<number>(16).fill(byte)),
  load8: (offset = 0): number[] => [Op.i32Load8U, 0, ...u32(offset)],
  /** local += amount: a constant, or instructions that push the i32 to add. */
  add: (local: number, amount: number | number[]): number[] => [
    ...emit.get(local),
    ...(typeof amount === 'number' ? emit.i32(amount) : amount),
    Op.i32Add,
    ...emit.set(local),
  ],
  store8: (offset = 0): number[] => [Op.i32Store8, 0, ...u32(offset)],
};

export interface FunctionSpec {
  name: string;
  params: number[];
  results: number[];
  /** Types of the locals after the parameters. */
  locals: number[];
  /** The instructions, without the final `end`. */
  body: number[];
}

function vector(items: number[][]): number[] {
  return [...u32(items.length), ...items.flat()];
}

function section(id: number, content: number[]): number[] {
  return [id, ...u32(content.length), ...content];
}

function name(text: string): number[] {
  const bytes = [...Buffer.from(text, 'utf8')];
  return [...u32(bytes.length), ...bytes];
}

/** A module importing memory `env.memory` (at least `pages` of 64 KiB) and exporting `functions`. */
export function assembleModule(pages: number, functions: FunctionSpec[]): Uint8Array {
  const types = functions.map((f) => [
    0x60,
    ...vector(f.params.map((t) => [t])),
    ...vector(f.results.map((t) => [t])),
  ]);
  const memoryImport = [...name('env'), ...name('memory'), 0x02, 0x00, ...u32(pages)];
  const exported = functions.map((f, index) => [...name(f.name), 0x00, ...u32(index)]);
  const bodies = functions.map((f) => {
    const locals = vector(f.locals.map((type) => [...u32(1), type]));
    const code = [...locals, ...f.body, Op.end];
    return [...u32(code.length), ...code];
  });
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector(types)),
    ...section(2, vector([memoryImport])),
    ...section(3, vector(functions.map((_, index) => u32(index)))),
    ...section(7, vector(exported)),
    ...section(10, vector(bodies)),
  ]);
}

/** The part of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
export type CompiledModule = { readonly kind?: 'wasm module' };
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => CompiledModule;
  Instance: new (module: CompiledModule, imports: object) => { exports: object };
  Memory: new (descriptor: { initial: number; maximum?: number }) => WasmMemory;
}

/** The host's WebAssembly, undefined where it has none. */
export const webAssembly = (globalThis as unknown as { WebAssembly?: WebAssemblyApi }).WebAssembly;

export const WASM_PAGE = 65536;

/** An instance of `module` over `memory`; its exports, as the caller types them. */
export function instantiate<Exports>(
  api: WebAssemblyApi,
  module: CompiledModule,
  memory: WasmMemory,
): Exports {
  return new api.Instance(module, { env: { memory } }).exports as unknown as Exports;
}

/** Grows `memory` (whole pages) until it holds at least `bytes`; a grown memory detaches its old buffer. */
export function growToHold(memory: WasmMemory, bytes: number): void {
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / WASM_PAGE));
}
