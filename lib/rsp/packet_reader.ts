import { checksum } from './checksum';

/** What the byte stream from a debugger contains. */
export type InboundItem =
  | { kind: 'packet'; payload: Buffer }
  | { kind: 'bad-checksum'; payload: Buffer }
  | { kind: 'oversized'; length: number }
  | { kind: 'ack' }
  | { kind: 'nack' }
  | { kind: 'interrupt' };

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

/**
 * Splits a debugger's byte stream into packets, acks and interrupts. Junk
 * between packets is skipped; a `$` inside a packet restarts it (resync after
 * a lost `#`); a packet longer than maxPacket is dropped whole and reported.
 * The receive buffer is reused and grows up to maxPacket.
 */
export class PacketReader {
  private buffer: Buffer;
  private length = 0;
  private state: 'idle' | 'body' | 'sum1' | 'sum2' = 'idle';
  private sumHigh = 0;
  private oversized = 0;

  constructor(private readonly maxPacket: number) {
    this.buffer = Buffer.allocUnsafe(Math.min(maxPacket, 4096));
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
          } else {
            this.append(byte);
          }
          break;
        case 'sum1':
          this.sumHigh = HEX_VALUE[byte]!;
          this.state = 'sum2';
          break;
        case 'sum2': {
          this.state = 'idle';
          const low = HEX_VALUE[byte]!;
          if (this.oversized > 0) {
            out.push({ kind: 'oversized', length: this.oversized });
            break;
          }
          const payload = Buffer.from(this.buffer.subarray(0, this.length));
          const ok =
            this.sumHigh >= 0 && low >= 0 && ((this.sumHigh << 4) | low) === checksum(payload);
          out.push(ok ? { kind: 'packet', payload } : { kind: 'bad-checksum', payload });
          break;
        }
      }
    }
    return out;
  }

  private begin(): void {
    this.state = 'body';
    this.length = 0;
    this.oversized = 0;
  }

  private append(byte: number): void {
    if (this.oversized > 0 || this.length >= this.maxPacket) {
      this.oversized = Math.max(this.oversized, this.length) + 1;
      return;
    }
    if (this.length === this.buffer.length) {
      const bigger = Buffer.allocUnsafe(Math.min(this.maxPacket, this.buffer.length * 2));
      this.buffer.copy(bigger, 0, 0, this.length);
      this.buffer = bigger;
    }
    this.buffer[this.length++] = byte;
  }
}
