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
  WASM_PAGE,
  webAssembly,
  type CompiledModule,
  type FunctionSpec,
  type WasmMemory,
} from './wasm_module';

/**
 * The bulk m and x encoders as WebAssembly SIMD, 16 bytes an instruction:
 * hex encoding and escaping of reads up to PacketSize, summing the checksum
 * as they write. They work inside one WebAssembly memory that holds both the
 * session's read buffer and the connection's kept frame (BulkMemory), so
 * guest memory is read straight into it and the frame written from it.
 *
 * Why: with the JavaScript encoders (hex.ts, binary.ts) the stub's thread
 * spent half of a 16 MiB `m` read and two thirds of an `x` read encoding,
 * at 0.58 and 0.9 ns a byte. These are the fallback where WebAssembly SIMD
 * is missing, and for data outside a BulkMemory.
 *
 * The same module sums large received packets (ReceiveMemory, for
 * PacketReader's checksum) and unescapes bulk binary data
 * (unescapeWithSimd, for X writes and a client's x replies).
 */

const HEX_DIGITS = [...Buffer.from('0123456789abcdef', 'latin1')];
/** Bytes x escapes: `#`, `$`, `}`, `*`. */
const ESCAPED = [0x23, 0x24, 0x7d, 0x2a];
const ESCAPE = 0x7d;
/** Scratch at the start of the memory: escape leaves its checksum here (the low byte is read). */
const SUM_CELL = 0;
/** Where the buffers begin: past the scratch, 64-byte aligned. */
const BUFFERS_START = 64;

/** Adds the 16 byte lanes of local `vector` to the i32 on the stack. */
function addLanes(vector: number): number[] {
  const out: number[] = [];
  for (let lane = 0; lane < 16; lane++) {
    out.push(...emit.get(vector), ...emit.simd(Simd.i8x16ExtractLaneU, lane), Op.i32Add);
  }
  return out;
}

/** Pushes the lowercase hex digit of the nibble in local `nibble`. */
function digitOf(nibble: number): number[] {
  const { get, i32 } = emit;
  return [
    ...[...get(nibble), ...i32(48), Op.i32Add],
    ...[...i32(39), ...i32(0), ...get(nibble), ...i32(9), Op.i32GtU, Op.select],
    Op.i32Add,
  ];
}

/**
 * hex(src, n, dst) -> sum: the n bytes at src as 2n hex digits at dst;
 * returns the digits' sum modulo 256. Each 16 bytes: their high and low
 * nibbles looked up in a 16-lane digit table (swizzle), interleaved into 32
 * digits, and added lane by lane into a running vector (lanes wrap modulo
 * 256, all the checksum needs). The last n % 16 bytes one at a time.
 */
function hexFunction(): FunctionSpec {
  const [src, n, dst, end16, end, acc, v, high, low, sum, byte, digit] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
  ] as const;
  const { get, set, i32, simd } = emit;
  const table = emit.v128Const(HEX_DIGITS);
  const firstHalf = [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23];
  const secondHalf = firstHalf.map((lane) => lane + 8);
  const storeDigit = (nibbleCode: number[], at: number): number[] => [
    ...[...nibbleCode, ...set(digit), ...digitOf(digit), ...set(digit)],
    ...[...get(dst), ...get(digit), ...emit.store8(at)],
    ...[...get(sum), ...get(digit), Op.i32Add, ...set(sum)],
  ];
  return {
    name: 'hex',
    params: [I32, I32, I32],
    results: [I32],
    locals: [I32, I32, V128, V128, V128, V128, I32, I32, I32],
    body: [
      ...[...get(src), ...get(n), Op.i32Add, ...set(end)],
      ...[...get(src), ...get(n), ...i32(-16), Op.i32And, Op.i32Add, ...set(end16)],
      ...[Op.block, VOID, Op.loop, VOID],
      ...[...get(src), ...get(end16), Op.i32GeU, Op.brIf, 1],
      ...[...get(src), ...emit.v128Load(), ...set(v)],
      ...[
        ...table,
        ...get(v),
        ...i32(4),
        ...simd(Simd.i8x16ShrU),
        ...simd(Simd.swizzle),
        ...set(high),
      ],
      ...[
        ...table,
        ...get(v),
        ...emit.splat(15),
        ...simd(Simd.and),
        ...simd(Simd.swizzle),
        ...set(low),
      ],
      ...[
        ...get(dst),
        ...get(high),
        ...get(low),
        ...simd(Simd.shuffle, ...firstHalf),
        ...emit.v128Store(0),
      ],
      ...[
        ...get(dst),
        ...get(high),
        ...get(low),
        ...simd(Simd.shuffle, ...secondHalf),
        ...emit.v128Store(16),
      ],
      ...[
        ...get(acc),
        ...get(high),
        ...get(low),
        ...simd(Simd.i8x16Add),
        ...simd(Simd.i8x16Add),
        ...set(acc),
      ],
      ...emit.add(src, 16),
      ...emit.add(dst, 32),
      ...[Op.br, 0, Op.end, Op.end],
      ...[Op.block, VOID, Op.loop, VOID],
      ...[...get(src), ...get(end), Op.i32GeU, Op.brIf, 1],
      ...[...get(src), ...emit.load8(), ...set(byte)],
      ...storeDigit([...get(byte), ...i32(4), Op.i32ShrU], 0),
      ...storeDigit([...get(byte), ...i32(15), Op.i32And], 1),
      ...emit.add(src, 1),
      ...emit.add(dst, 2),
      ...[Op.br, 0, Op.end, Op.end],
      ...get(sum),
      ...addLanes(acc),
      ...[...i32(255), Op.i32And],
    ],
  };
}

/**
 * escape(src, n, dst, limit) -> length: escapes the n bytes at src to dst,
 * as many leading bytes as fit before the address `limit`; returns the
 * length written and leaves its sum modulo 256 in SUM_CELL.
 *
 * Each 16 bytes are compared with the four escaped bytes at once. A clean
 * block (most of real memory) is stored whole. A block with escaped bytes
 * is stored in runs: the clean bytes up to the next escaped one (the block
 * shifted down by a swizzle), then `}` and the byte XOR 0x20. Both add the
 * block to a running vector whose lanes wrap modulo 256, all the checksum
 * needs; an escape adds its difference to a scalar sum. A block's stores
 * may reach 48 bytes past its start, so within 48 bytes of the limit, and
 * for the last n % 16 bytes, it goes a byte at a time.
 */
function escapeFunction(): FunctionSpec {
  const [src, n, dst, limit, end, start, sum, byte, mask, clean, at, acc, v] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
  ] as const;
  const { get, set, i32, simd } = emit;
  const iota = Array.from({ length: 16 }, (_, lane) => lane);
  const escapedLanes = ESCAPED.flatMap((value, index) => [
    ...get(v),
    ...emit.splat(value),
    ...simd(Simd.i8x16Eq),
    ...(index === 0 ? [] : simd(Simd.or)),
  ]);
  const isEscapedByte = ESCAPED.flatMap((value, index) => [
    ...get(byte),
    ...i32(value),
    Op.i32Eq,
    ...(index === 0 ? [] : [Op.i32Or]),
  ]);
  /** Stores the block from lane `clean` on at dst (the lanes past 15 read as zero). */
  const storeFromClean = [
    ...get(dst),
    ...[
      ...get(v),
      ...emit.v128Const(iota),
      ...get(clean),
      ...simd(Simd.i8x16Splat),
      ...simd(Simd.i8x16Add),
    ],
    ...simd(Simd.swizzle),
    ...emit.v128Store(0),
  ];
  /** `}` and byte XOR 0x20 at dst; the sum gains their difference from the byte. */
  const storeEscape = [
    ...[...get(dst), ...i32(ESCAPE), ...emit.store8(0)],
    ...[...get(dst), ...get(byte), ...i32(0x20), Op.i32Xor, ...emit.store8(1)],
    ...emit.add(sum, [
      ...i32(ESCAPE),
      ...get(byte),
      ...i32(0x20),
      Op.i32Xor,
      Op.i32Add,
      ...get(byte),
      Op.i32Sub,
    ]),
    ...emit.add(dst, 2),
  ];
  return {
    name: 'escape',
    params: [I32, I32, I32, I32],
    results: [I32],
    locals: [I32, I32, I32, I32, I32, I32, I32, V128, V128],
    body: [
      ...[...get(src), ...get(n), Op.i32Add, ...set(end)],
      ...[...get(dst), ...set(start)],
      // Depths inside the main loop: 0 the loop, 1 the block (done).
      ...[Op.block, VOID, Op.loop, VOID],
      ...[...get(src), ...i32(16), Op.i32Add, ...get(end), Op.i32LeU],
      ...[...get(dst), ...i32(48), Op.i32Add, ...get(limit), Op.i32LeU, Op.i32And],
      ...[Op.if, VOID],
      ...[...get(src), ...emit.v128Load(), ...set(v)],
      ...[...escapedLanes, ...simd(Simd.i8x16Bitmask), ...set(mask)],
      ...[...get(acc), ...get(v), ...simd(Simd.i8x16Add), ...set(acc)],
      ...[...get(mask), Op.i32Eqz, Op.if, VOID],
      ...[...get(dst), ...get(v), ...emit.v128Store(0)],
      ...emit.add(dst, 16),
      Op.else,
      ...[...i32(0), ...set(clean)],
      ...[Op.loop, VOID],
      ...[...get(mask), Op.i32Ctz, ...set(at)],
      ...storeFromClean,
      ...emit.add(dst, [...get(at), ...get(clean), Op.i32Sub]),
      ...[...get(src), ...get(at), Op.i32Add, ...emit.load8(), ...set(byte)],
      ...storeEscape,
      ...[...get(at), ...i32(1), Op.i32Add, ...set(clean)],
      ...[...get(mask), ...get(mask), ...i32(1), Op.i32Sub, Op.i32And, ...set(mask)],
      ...[...get(mask), Op.brIf, 0, Op.end],
      ...storeFromClean,
      ...emit.add(dst, [...i32(16), ...get(clean), Op.i32Sub]),
      Op.end,
      ...emit.add(src, 16),
      // Depths: 0 this if, 1 the main loop.
      ...[Op.br, 1, Op.end],
      // A byte at a time to the end; depths: 0 the byte loop, 1 the main
      // loop, 2 done (inside the if, one more).
      ...[Op.loop, VOID],
      ...[...get(src), ...get(end), Op.i32GeU, Op.brIf, 2],
      ...[...get(src), ...emit.load8(), ...set(byte)],
      ...isEscapedByte,
      ...[Op.if, VOID],
      ...[...get(dst), ...i32(2), Op.i32Add, ...get(limit), Op.i32GtU, Op.brIf, 3],
      ...emit.add(sum, get(byte)),
      ...storeEscape,
      Op.else,
      ...[...get(dst), ...i32(1), Op.i32Add, ...get(limit), Op.i32GtU, Op.brIf, 3],
      ...[...get(dst), ...get(byte), ...emit.store8(0)],
      ...emit.add(sum, get(byte)),
      ...emit.add(dst, 1),
      Op.end,
      ...emit.add(src, 1),
      ...[Op.br, 0, Op.end],
      ...[Op.end, Op.end],
      ...[
        ...i32(SUM_CELL),
        ...get(sum),
        ...addLanes(acc),
        ...i32(255),
        Op.i32And,
        Op.i32Store,
        2,
        0,
      ],
      ...[...get(dst), ...get(start), Op.i32Sub],
    ],
  };
}

/**
 * sum(src, n) -> sum: the n bytes at src summed modulo 256 (the checksum of
 * a received packet), 16 bytes an add into a vector whose lanes wrap.
 */
function sumFunction(): FunctionSpec {
  const [src, n, end16, end, sum, acc] = [0, 1, 2, 3, 4, 5] as const;
  const { get, set, i32, simd } = emit;
  return {
    name: 'sum',
    params: [I32, I32],
    results: [I32],
    locals: [I32, I32, I32, V128],
    body: [
      ...[...get(src), ...get(n), Op.i32Add, ...set(end)],
      ...[...get(src), ...get(n), ...i32(-16), Op.i32And, Op.i32Add, ...set(end16)],
      ...[Op.block, VOID, Op.loop, VOID],
      ...[...get(src), ...get(end16), Op.i32GeU, Op.brIf, 1],
      ...[...get(acc), ...get(src), ...emit.v128Load(), ...simd(Simd.i8x16Add), ...set(acc)],
      ...emit.add(src, 16),
      ...[Op.br, 0, Op.end, Op.end],
      ...[Op.block, VOID, Op.loop, VOID],
      ...[...get(src), ...get(end), Op.i32GeU, Op.brIf, 1],
      ...[...get(sum), ...get(src), ...emit.load8(), Op.i32Add, ...set(sum)],
      ...emit.add(src, 1),
      ...[Op.br, 0, Op.end, Op.end],
      ...[...get(sum), ...addLanes(acc), ...i32(255), Op.i32And],
    ],
  };
}

/**
 * unescape(src, n, dst) -> length, or -1 when the data ends inside an
 * escape: undoes x's and X's escaping (`}` then the byte XOR 0x20). A block
 * of 16 without `}` (most of them) is copied whole; one with a `}` goes a
 * byte at a time to its end (or one past it, when its last byte escapes
 * the next), as does the tail.
 */
function unescapeFunction(): FunctionSpec {
  const [src, n, dst, end, start, byte, blockEnd] = [0, 1, 2, 3, 4, 5, 6] as const;
  const v = 7;
  const { get, set, i32, simd } = emit;
  return {
    name: 'unescape',
    params: [I32, I32, I32],
    results: [I32],
    locals: [I32, I32, I32, I32, V128],
    body: [
      ...[...get(src), ...get(n), Op.i32Add, ...set(end)],
      ...[...get(dst), ...set(start)],
      // Depths inside the main loop: 0 the loop, 1 the block (done).
      ...[Op.block, VOID, Op.loop, VOID],
      ...[...get(src), ...i32(16), Op.i32Add, ...get(end), Op.i32LeU, Op.if, VOID],
      ...[...get(src), ...emit.v128Load(), ...set(v)],
      ...[...get(v), ...emit.splat(ESCAPE), ...simd(Simd.i8x16Eq), ...simd(Simd.i8x16Bitmask)],
      ...[Op.i32Eqz, Op.if, VOID],
      ...[...get(dst), ...get(v), ...emit.v128Store(0)],
      ...emit.add(src, 16),
      ...emit.add(dst, 16),
      // Depths: 0 this if, 1 the outer if, 2 the main loop.
      ...[Op.br, 2, Op.end],
      ...[...get(src), ...i32(16), Op.i32Add, ...set(blockEnd)],
      ...[Op.else, ...get(end), ...set(blockEnd), Op.end],
      // A byte at a time to blockEnd; depths: 0 the byte loop, 1 its block,
      // 2 the main loop, 3 done.
      ...[Op.block, VOID, Op.loop, VOID],
      ...[...get(src), ...get(blockEnd), Op.i32GeU, Op.brIf, 1],
      ...[...get(src), ...emit.load8(), ...set(byte)],
      ...emit.add(src, 1),
      ...[...get(byte), ...i32(ESCAPE), Op.i32Eq, Op.if, VOID],
      // Depths in here: 0 this if, 1 the byte loop, 2 its block, 3 the main loop, 4 done.
      ...[...get(src), ...get(end), Op.i32GeU, Op.if, VOID],
      ...[...i32(-1), ...set(start), ...get(dst), ...set(end), Op.br, 5, Op.end],
      ...[...get(src), ...emit.load8(), ...i32(0x20), Op.i32Xor, ...set(byte)],
      ...emit.add(src, 1),
      Op.end,
      ...[...get(dst), ...get(byte), ...emit.store8(0)],
      ...emit.add(dst, 1),
      ...[Op.br, 0, Op.end, Op.end],
      ...[...get(src), ...get(end), Op.i32LtU, Op.brIf, 0],
      ...[Op.end, Op.end],
      // start is -1 after a cut escape: the result is -1 then.
      ...[...get(start), ...i32(-1), Op.i32Eq],
      ...[Op.if, I32, ...i32(-1), Op.else, ...get(dst), ...get(start), Op.i32Sub, Op.end],
    ],
  };
}

interface CodecExports {
  hex(src: number, n: number, dst: number): number;
  escape(src: number, n: number, dst: number, limit: number): number;
  sum(src: number, n: number): number;
  unescape(src: number, n: number, dst: number): number;
}

const MINIMUM_PAGES = 1;

/** The compiled module, once a process; null where WebAssembly SIMD is not available. */
let compiled: CompiledModule | null | undefined;

function codecModule(): CompiledModule | null {
  if (compiled === undefined) {
    try {
      if (webAssembly === undefined) throw new Error('no WebAssembly');
      compiled = new webAssembly.Module(
        assembleModule(MINIMUM_PAGES, [
          hexFunction(),
          escapeFunction(),
          sumFunction(),
          unescapeFunction(),
        ]),
      );
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** Every live BulkMemory by its ArrayBuffer: how an encoder finds the codec for its buffers. */
const MEMORIES = new WeakMap<ArrayBuffer, BulkMemory>();

/**
 * One WebAssembly memory with a connection's bulk buffers: the read buffer
 * m and x read guest memory into, and the kept reply frame. Fixed size (a
 * grown memory would detach the buffers already handed out).
 */
export class BulkMemory {
  readonly readBuffer: Buffer;
  readonly frameBuffer: Buffer;
  private readonly codec: CodecExports;
  private readonly bytes: Uint8Array;

  private constructor(module: CompiledModule, readBytes: number, frameBytes: number) {
    const frameStart = BUFFERS_START + align64(readBytes);
    const pages = Math.ceil((frameStart + frameBytes) / WASM_PAGE);
    const memory = new webAssembly!.Memory({ initial: pages, maximum: pages });
    this.codec = instantiate<CodecExports>(webAssembly!, module, memory);
    const buffer = memory.buffer;
    this.bytes = new Uint8Array(buffer);
    this.readBuffer = Buffer.from(buffer, BUFFERS_START, readBytes);
    this.frameBuffer = Buffer.from(buffer, frameStart, frameBytes);
    MEMORIES.set(buffer, this);
  }

  /** A memory with buffers of these sizes; undefined where WebAssembly SIMD is missing. */
  static create(readBytes: number, frameBytes: number): BulkMemory | undefined {
    const module = codecModule();
    return module === null
      ? undefined
      : orUndefined(() => new BulkMemory(module, readBytes, frameBytes));
  }

  /** The memory holding both `input` and `out`, if one does. */
  static holding(input: Uint8Array, out: Uint8Array): BulkMemory | undefined {
    if (input.buffer !== out.buffer) return undefined;
    return MEMORIES.get(input.buffer as ArrayBuffer);
  }

  /** hex.ts's encodeHexInto, for buffers in this memory: the digits' sum modulo 256. */
  hexInto(input: Uint8Array, out: Uint8Array, offset: number): number {
    if (offset < 0 || offset + 2 * input.length > out.length) {
      throw new RangeError(`hex: ${input.length} bytes do not fit at ${offset} of ${out.length}`);
    }
    return this.codec.hex(input.byteOffset, input.length, out.byteOffset + offset);
  }

  /**
   * binary.ts's escapeInto, for buffers in this memory: `prefix` then the
   * leading bytes of input that fit in `room` bytes at out[offset...].
   */
  escapeInto(
    input: Uint8Array,
    prefix: string,
    room: number,
    out: Uint8Array,
    offset: number,
  ): { length: number; sum: number } {
    if (offset < 0 || offset + prefix.length > out.length || room < prefix.length) {
      throw new RangeError(`escape: no room for the prefix at ${offset} of ${out.length}`);
    }
    let at = out.byteOffset + offset;
    let prefixSum = 0;
    for (let i = 0; i < prefix.length; i++) {
      const code = prefix.charCodeAt(i) & 0xff;
      this.bytes[at++] = code;
      prefixSum += code;
    }
    const limit = out.byteOffset + offset + Math.min(room, out.length - offset);
    const length = this.codec.escape(input.byteOffset, input.length, at, limit);
    return { length: prefix.length + length, sum: (prefixSum + this.bytes[SUM_CELL]!) & 0xff };
  }
}

/**
 * make(), or undefined when it throws: a WebAssembly memory that cannot be
 * had (address space or memory exhausted) leaves the caller on plain
 * buffers and the JavaScript encoders rather than failing the request.
 */
function orUndefined<T>(make: () => T): T | undefined {
  try {
    return make();
  } catch {
    return undefined;
  }
}

function align64(bytes: number): number {
  return (bytes + 63) & ~63;
}

/**
 * A packet reader's receive buffer in WebAssembly memory, grown on demand
 * up to a limit, whose bytes the codec sums: the checksum of a 512 KiB
 * packet in 16 us instead of 112 (PacketReader: X writes on the
 * stub's side, m and x replies on a client's).
 */
export class ReceiveMemory {
  private readonly memory: WasmMemory;
  private readonly codec: CodecExports;
  private view: Buffer;

  private constructor(module: CompiledModule, bytes: number, maxBytes: number) {
    const pages = (size: number) => Math.ceil((BUFFERS_START + size) / WASM_PAGE);
    this.memory = new webAssembly!.Memory({ initial: pages(bytes), maximum: pages(maxBytes) });
    this.codec = instantiate<CodecExports>(webAssembly!, module, this.memory);
    this.view = this.currentView();
  }

  /** A buffer of at least `bytes` that may grow to `maxBytes`; undefined where WebAssembly SIMD is missing. */
  static create(bytes: number, maxBytes: number): ReceiveMemory | undefined {
    const module = codecModule();
    return module === null
      ? undefined
      : orUndefined(() => new ReceiveMemory(module, bytes, Math.max(bytes, maxBytes)));
  }

  /** The buffer: a new view after each grow (which detaches the last one), contents kept. */
  get buffer(): Buffer {
    return this.view;
  }

  /** Makes the buffer at least `bytes` long (up to the limit given at creation); returns it. */
  grow(bytes: number): Buffer {
    if (bytes > this.view.length) {
      growToHold(this.memory, BUFFERS_START + bytes);
      this.view = this.currentView();
    }
    return this.view;
  }

  /** The sum modulo 256 of buffer[0, length). */
  sum(length: number): number {
    if (length < 0 || length > this.view.length) {
      throw new RangeError(`sum: ${length} bytes of a ${this.view.length}-byte buffer`);
    }
    return this.codec.sum(BUFFERS_START, length);
  }

  private currentView(): Buffer {
    const buffer = this.memory.buffer;
    return Buffer.from(buffer, BUFFERS_START, buffer.byteLength - BUFFERS_START);
  }
}

/** A growable memory for one-off work on data from outside (unescaping), shared: JS runs one call at a time. */
let scratch: { memory: WasmMemory; codec: CodecExports } | null | undefined;

/**
 * Undoes x's and X's escaping in WebAssembly SIMD: the data is copied in,
 * unescaped and copied out, which still took 5 times less than the
 * JavaScript word loop on 512 KiB. Returns the bytes, undefined when the
 * data ends inside an escape, or null where WebAssembly SIMD is missing.
 */
export function unescapeWithSimd(data: Uint8Array): Buffer | undefined | null {
  if (scratch === undefined) {
    const module = codecModule();
    const made =
      module === null
        ? undefined
        : orUndefined(() => {
            const memory = new webAssembly!.Memory({ initial: 1, maximum: 65536 });
            return { memory, codec: instantiate<CodecExports>(webAssembly!, module, memory) };
          });
    scratch = made ?? null;
  }
  if (scratch === null) return null;
  const { memory, codec } = scratch;
  const outAt = BUFFERS_START + align64(data.length);
  try {
    growToHold(memory, outAt + data.length);
  } catch {
    return null; // no more memory to be had: the caller unescapes in JavaScript
  }
  const bytes = new Uint8Array(memory.buffer);
  bytes.set(data, BUFFERS_START);
  const length = codec.unescape(BUFFERS_START, data.length, outAt);
  return length < 0 ? undefined : Buffer.from(bytes.subarray(outAt, outAt + length));
}
