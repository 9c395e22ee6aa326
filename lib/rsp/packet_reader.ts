import { ReceiveMemory } from './bulk_codec';
import { checksum } from './checksum';

/** What the byte stream from a debugger contains. */
export type InboundItem =
  | { kind: 'packet'; payload: Buffer }
  | { kind: 'bad-checksum'; payload: Buffer }
  | { kind: 'oversized'; length: number }
  | { kind: 'ack' }
  | { kind: 'nack' }
  /** Ctrl-C; `discarded` is the length of the partial packet it cut short, if any. */
  | { kind: 'interrupt'; discarded?: number };

export interface PacketReaderOptions {
  /**
   * Whether 0x03 inside a text packet is Ctrl-C (true, the stub's side) or
   * data (false: a client reading replies, where binary `x` data may hold it).
   */
  interruptInBody?: boolean;
}

const DOLLAR = 0x24;
const HASH = 0x23;
const PLUS = 0x2b;
const MINUS = 0x2d;
const CTRL_C = 0x03;

const HEX_VALUE = (() => {
  const table = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) table[0x30 + i] = i;
  for (let i = 0; i < 6; i++) {
    table[0x41 + i] = 10 + i;
    table[0x61 + i] = 10 + i;
  }
  return table;
})();

/** Packets whose bodies carry escaped binary data, in which 0x03 is a byte like any other. */
const BINARY_PREFIXES = ['X', 'vFile:', 'vFlashWrite:', 'qSearch:memory:'].map((p) =>
  Buffer.from(p, 'latin1'),
);
const QXFER = Buffer.from('qXfer:', 'latin1');
const QXFER_WRITE = Buffer.from(':write:', 'latin1');

/**
 * Splits a debugger's byte stream into packets, acks and interrupts. Junk
 * between packets is skipped; a `$` inside a packet or its checksum restarts
 * it (resync after a lost `#` or digit); a packet longer than maxPacket is dropped whole and reported.
 * Ctrl-C is reported between packets and also inside a text packet, which it
 * discards (a debugger that gave up on the packet); inside a binary packet
 * (X, vFile:, vFlashWrite:, qXfer:...:write:, qSearch:memory:), known from
 * the bytes before it, 0x03 is data. `}` escapes are left to the commands
 * that take binary data (unescapeBinary): they mean nothing to framing.
 * The receive buffer is reused and grows up to maxPacket.
 */
export class PacketReader {
  private buffer: Buffer;
  private length = 0;
  private state: 'idle' | 'body' | 'sum1' | 'sum2' = 'idle';
  private sumHigh = 0;
  private oversized = 0;
  private readonly interruptInBody: boolean;
  /**
   * Where the buffer goes once a packet outgrows the first 4 KiB: WebAssembly
   * memory, summed by SIMD (null where that is missing; undefined until then).
   */
  private large: ReceiveMemory | null | undefined;

  constructor(
    private readonly maxPacket: number,
    options: PacketReaderOptions = {},
  ) {
    this.buffer = Buffer.allocUnsafe(Math.min(maxPacket, 4096));
    this.interruptInBody = options.interruptInBody ?? true;
  }

  /** Feeds bytes; returns what they completed. */
  push(chunk: Buffer): InboundItem[] {
    const out: InboundItem[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      switch (this.state) {
        case 'idle':
          if (byte === DOLLAR) this.begin();
          else if (byte === PLUS) out.push({ kind: 'ack' });
          else if (byte === MINUS) out.push({ kind: 'nack' });
          else if (byte === CTRL_C) out.push({ kind: 'interrupt' });
          break;
        case 'body':
          if (byte === HASH) {
            this.state = 'sum1';
          } else if (byte === DOLLAR) {
            this.begin();
          } else if (byte === CTRL_C && this.interruptInBody && !this.isBinary()) {
            out.push(this.abandon());
          } else {
            // Bulk-copy the plain bytes up to the next one framing cares about.
            i = this.appendRun(chunk, i) - 1;
          }
          break;
        case 'sum1':
        case 'sum2':
          // A `$` for a checksum digit: the packet was cut; like junk, it gets no `-`
          // (which the debugger would take as refusing the packet it is sending now).
          if (byte === DOLLAR) {
            this.begin();
          } else if (byte === CTRL_C && this.interruptInBody) {
            out.push(this.abandon());
          } else if (this.state === 'sum1') {
            this.sumHigh = HEX_VALUE[byte]!;
            this.state = 'sum2';
          } else {
            this.endPacket(byte, out);
          }
          break;
      }
    }
    return out;
  }

  /** The second checksum digit arrived: the packet is complete. */
  private endPacket(digit: number, out: InboundItem[]): void {
    this.state = 'idle';
    if (this.oversized > 0) {
      out.push({ kind: 'oversized', length: this.oversized });
      return;
    }
    const low = HEX_VALUE[digit]!;
    const sum =
      this.large != null && this.buffer === this.large.buffer
        ? this.large.sum(this.length)
        : checksum(this.buffer, 0, this.length);
    // A copy: the receive buffer is reused and packets may wait in a queue.
    const payload = Buffer.from(this.buffer.subarray(0, this.length));
    const ok = this.sumHigh >= 0 && low >= 0 && ((this.sumHigh << 4) | low) === sum;
    out.push(ok ? { kind: 'packet', payload } : { kind: 'bad-checksum', payload });
  }

  private begin(): void {
    this.state = 'body';
    this.length = 0;
    this.oversized = 0;
  }

  /** Drops the packet in progress for a Ctrl-C. */
  private abandon(): InboundItem {
    const discarded = Math.max(this.length, this.oversized);
    this.state = 'idle';
    this.length = 0;
    this.oversized = 0;
    return { kind: 'interrupt', discarded };
  }

  /** Whether the packet so far is one that carries binary data at this point. */
  private isBinary(): boolean {
    const head = this.buffer.subarray(0, this.length);
    for (const prefix of BINARY_PREFIXES) {
      if (
        head.length >= prefix.length &&
        head.compare(prefix, 0, prefix.length, 0, prefix.length) === 0
      ) {
        return true;
      }
    }
    return (
      head.length > QXFER.length &&
      head.compare(QXFER, 0, QXFER.length, 0, QXFER.length) === 0 &&
      head.indexOf(QXFER_WRITE, QXFER.length) >= 0
    );
  }

  /**
   * Appends chunk[start, end): the byte at start (known to be data) and
   * those after it up to the next `#`, `$` or (when it could be an
   * interrupt) 0x03; returns end.
   */
  private appendRun(chunk: Buffer, start: number): number {
    let end = chunk.indexOf(HASH, start + 1);
    if (end < 0) end = chunk.length;
    const dollar = chunk.indexOf(DOLLAR, start + 1);
    if (dollar >= 0 && dollar < end) end = dollar;
    if (this.interruptInBody) {
      const ctrlC = chunk.indexOf(CTRL_C, start + 1);
      if (ctrlC >= 0 && ctrlC < end) end = ctrlC;
    }
    const count = end - start;
    if (this.oversized > 0 || this.length + count > this.maxPacket) {
      for (let i = start; i < end; i++) this.append(chunk[i]!);
      return end;
    }
    if (this.length + count > this.buffer.length) this.growTo(this.length + count);
    chunk.copy(this.buffer, this.length, start, end);
    this.length += count;
    return end;
  }

  private append(byte: number): void {
    if (this.oversized > 0 || this.length >= this.maxPacket) {
      this.oversized = Math.max(this.oversized, this.length) + 1;
      return;
    }
    if (this.length === this.buffer.length) this.growTo(this.length + 1);
    this.buffer[this.length++] = byte;
  }

  /** Grows the buffer (doubling, at most maxPacket) to hold `bytes`, keeping its contents. */
  private growTo(bytes: number): void {
    let size = this.buffer.length;
    while (size < bytes) size *= 2;
    size = Math.min(this.maxPacket, size);
    if (this.large === undefined) this.large = ReceiveMemory.create(size, this.maxPacket) ?? null;
    const inLarge = this.large !== null && this.buffer === this.large.buffer;
    let bigger: Buffer | undefined;
    if (this.large !== null) {
      try {
        bigger = this.large.grow(size);
      } catch {
        // No more WebAssembly memory to be had (the last view stays valid):
        // plain buffers from now on.
        this.large = null;
      }
    }
    if (bigger === undefined) {
      bigger = Buffer.allocUnsafe(size);
      this.buffer.copy(bigger, 0, 0, this.length);
    } else if (!inLarge) {
      this.buffer.copy(bigger, 0, 0, this.length);
    }
    this.buffer = bigger;
  }
}
