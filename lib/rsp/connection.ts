import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { PacketReader } from './packet_reader';
import { payloadBytes, type Payload } from './encoded_payload';
import { BulkMemory } from './bulk_codec';
import { FrameStore } from './frame_store';
import { framePacket } from './packet_writer';

interface ConnectionEvents {
  packet: [Buffer];
  interrupt: [];
  /** A line for the log: bad checksums, oversized packets, given-up retransmissions. */
  warning: [string];
  close: [];
}

/** Reads below this many bytes keep to the JavaScript encoders (bulkReadBuffer). */
const SMALL_READ = 4096;

export interface RspConnectionOptions {
  /** Run-length encode replies (default true); off, replies go out as given. */
  runLength?: boolean;
  /** Receives one line per packet, ack and interrupt in either direction (`<-` in, `->` out). */
  trace?: (line: string) => void;
  /** Consecutive `-` answered with a retransmission before giving up (default 5). */
  maxRetransmits?: number;
  /**
   * Reuse one buffer for bulk reply frames (default false). Only for streams
   * whose write callback means the bytes have left the buffer, as a
   * net.Socket's does; a stream that passes the chunk on (a PassThrough)
   * would see it overwritten.
   */
  reuseFrames?: boolean;
  /**
   * Writes what the stream's destination takes now of a frame, around the
   * stream (Vmm.writeSocketNow); returns how many bytes. Used only while
   * the stream holds nothing unwritten; the rest goes through the stream.
   */
  writeNow?: (frame: Buffer) => number;
}

/** Leading `+`s a kept frame buffer has room for, beyond PacketSize. */
const FRAME_STORE_SPARE = 64;

/** Longest packet text a trace line shows. */
const TRACE_LIMIT = 2000;

/**
 * One debugger's byte stream: framing, `+`/`-` acknowledgements with
 * retransmission of the last packet on `-`, and no-ack mode.
 *
 * Outgoing lengths: send() takes replies the commands have already bounded
 * from session.packetSize; a framed reply over maxPacket is logged (a command
 * bug) and sent anyway, since gdb and lldb read longer packets and dropping
 * it would leave the debugger waiting. Incoming packets are bounded by
 * PacketReader: data up to maxPacket bytes is accepted.
 */
export class RspConnection extends EventEmitter<ConnectionEvents> {
  private readonly reader: PacketReader;
  private readonly runLength: boolean;
  /** Receives the packet trace; may be swapped at any time (`monitor log rsp`). */
  trace: ((line: string) => void) | undefined;
  private readonly maxRetransmits: number;
  private ackMode = true;
  /** The last packet sent, until the debugger acknowledges it. */
  private lastSent: Buffer | undefined;
  private nacks = 0;
  private closed = false;
  /**
   * `+`s owed for packets received: written with the next reply when it is
   * ready in the same event-loop turn (one socket write), else on their own
   * at the end of the turn (a reply that waits on the guest).
   */
  private acksOwed = 0;
  private ackFlushQueued = false;
  private readonly frames: FrameStore | undefined;
  private readonly writeNow: ((frame: Buffer) => number) | undefined;
  /** Where bulk reads and their frames go, made on the first bulk read; null where unavailable. */
  private bulk: BulkMemory | null | undefined;

  constructor(
    private readonly stream: Duplex,
    readonly maxPacket: number,
    options: RspConnectionOptions = {},
  ) {
    super();
    this.reader = new PacketReader(maxPacket);
    this.runLength = options.runLength ?? true;
    this.trace = options.trace;
    this.writeNow = options.writeNow;
    this.maxRetransmits = options.maxRetransmits ?? 5;
    this.frames =
      options.reuseFrames === true
        ? new FrameStore(maxPacket + FRAME_STORE_SPARE, () => this.bulkMemory()?.frameBuffer)
        : undefined;
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('close', () => this.onClose());
    stream.on('end', () => this.onClose());
    stream.on('error', (error) => {
      this.emit('warning', `connection error: ${error.message}`);
      this.onClose();
    });
  }

  /**
   * A buffer of at least `length` bytes for bulk reads (m, x) to fill, kept for the
   * connection: in its BulkMemory, next to the kept frame, so the reply is
   * encoded by the WebAssembly codec. Undefined when the connection keeps no
   * frames (a stream that may hold on to them) or when `length` is beyond
   * PacketSize; the caller then uses a buffer of its own.
   */
  bulkReadBuffer(length: number): Buffer | undefined {
    // A small read (gdb's and lldb's at every stop) is no reason to set up
    // the WebAssembly memory: the JavaScript encoders serve it as fast.
    if (length < SMALL_READ && this.bulk === undefined) return undefined;
    if (this.frames === undefined || length > this.maxPacket) return undefined;
    return this.bulkMemory()?.readBuffer;
  }

  /** Only for a connection that keeps frames: the frame buffer is the store's. */
  private bulkMemory(): BulkMemory | undefined {
    if (this.bulk === undefined && this.frames !== undefined) {
      this.bulk = BulkMemory.create(this.maxPacket, this.frames.capacity) ?? null;
    }
    return this.bulk ?? undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get acknowledging(): boolean {
    return this.ackMode;
  }

  /**
   * After the OK to QStartNoAckMode has been sent: no more `+`/`-` from us,
   * and those the debugger still sends (its `+` for that OK) are ignored.
   */
  disableAcks(): void {
    this.flushAcks();
    this.ackMode = false;
    this.lastSent = undefined;
  }

  send(payload: Payload): void {
    if (this.closed) return;
    // The `+`s owed go in front of the packet, in the same buffer and the same write.
    const acks = this.acksOwed;
    this.acksOwed = 0;
    const out = framePacket(payload, {
      runLength: this.runLength,
      lead: acks,
      allocate: this.frames?.allocate,
    });
    const framed = acks === 0 ? out : out.subarray(acks);
    if (framed.length > this.maxPacket) {
      this.emit('warning', `reply of ${framed.length} bytes exceeds PacketSize ${this.maxPacket}`);
    }
    this.lastSent = this.ackMode ? framed : undefined;
    this.nacks = 0;
    if (this.trace !== undefined) {
      for (let i = 0; i < acks; i++) this.trace('-> +');
      this.trace(`-> ${describe(payload)}`);
    }
    this.write(out);
  }

  /**
   * Bytes read from the stream's source by other means (Vmm.readSocketNow),
   * handled as if the stream had delivered them: only while the stream
   * holds nothing it has read but not delivered.
   */
  feed(chunk: Buffer): void {
    if (!this.closed) this.onData(chunk);
  }

  /** Writes a frame; a kept frame buffer stays taken until the write is done. */
  private write(frame: Buffer): void {
    const done = this.frames?.writing(frame);
    let written = 0;
    if (this.writeNow !== undefined && this.stream.writableLength === 0) {
      written = this.writeNow(frame);
    }
    if (written >= frame.length) {
      done?.();
      return;
    }
    const rest = written === 0 ? frame : frame.subarray(written);
    if (done === undefined) this.stream.write(rest);
    else this.stream.write(rest, done);
  }

  /** Ends the stream; pending writes are flushed first. */
  close(): void {
    if (!this.closed) this.stream.end();
  }

  private ack(byte: '+' | '-'): void {
    if (!this.ackMode) return;
    if (byte === '+') {
      this.acksOwed++;
      if (!this.ackFlushQueued) {
        this.ackFlushQueued = true;
        setImmediate(() => {
          this.ackFlushQueued = false;
          this.flushAcks();
        });
      }
      return;
    }
    this.flushAcks();
    this.trace?.(`-> ${byte}`);
    this.stream.write(byte);
  }

  /** Writes the `+`s still owed (nothing else is ready to go with them). */
  private flushAcks(): void {
    const acks = this.acksOwed;
    if (acks === 0) return;
    this.acksOwed = 0;
    if (this.closed) return;
    for (let i = 0; i < acks; i++) this.trace?.('-> +');
    this.stream.write('+'.repeat(acks));
  }

  private onData(chunk: Buffer): void {
    for (const item of this.reader.push(chunk)) {
      switch (item.kind) {
        case 'packet':
          this.trace?.(`<- ${describe(item.payload)}`);
          // A new request means our last reply arrived, acknowledged or not.
          this.lastSent = undefined;
          this.ack('+');
          this.emit('packet', item.payload);
          break;
        case 'bad-checksum':
          this.trace?.(`<- (bad checksum) ${describe(item.payload)}`);
          this.emit(
            'warning',
            `bad checksum on packet ${JSON.stringify(item.payload.subarray(0, 40).toString('latin1'))}`,
          );
          this.ack('-');
          break;
        case 'oversized':
          this.trace?.(`<- (oversized packet of ${item.length} bytes)`);
          this.emit(
            'warning',
            `packet of ${item.length} bytes exceeds PacketSize ${this.maxPacket}; dropped`,
          );
          this.ack('+');
          this.send('E01');
          break;
        case 'nack':
          if (!this.ackMode) break;
          this.trace?.('<- -');
          this.retransmit();
          break;
        case 'ack':
          if (!this.ackMode) break;
          this.trace?.('<- +');
          this.lastSent = undefined;
          this.nacks = 0;
          break;
        case 'interrupt':
          this.trace?.('<- ^C');
          if (item.discarded !== undefined) {
            this.emit('warning', `Ctrl-C inside a packet: ${item.discarded} bytes of it discarded`);
          }
          this.emit('interrupt');
          break;
      }
    }
  }

  private retransmit(): void {
    if (this.lastSent === undefined) return;
    if (this.nacks >= this.maxRetransmits) {
      this.emit(
        'warning',
        `packet refused ${this.nacks + 1} times in a row; no more retransmissions`,
      );
      this.lastSent = undefined;
      this.nacks = 0;
      return;
    }
    this.nacks++;
    this.flushAcks();
    this.trace?.(`-> (retransmission ${this.nacks})`);
    this.write(this.lastSent);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
}

/** A packet as a trace shows it: printable ASCII as is, other bytes as \xNN, long ones cut. */
function describe(payload: Payload): string {
  const bytes = payloadBytes(payload);
  const shown = bytes.subarray(0, TRACE_LIMIT);
  const parts: string[] = [];
  let plainFrom = 0;
  for (let i = 0; i < shown.length; i++) {
    const byte = shown[i]!;
    if (byte >= 0x20 && byte < 0x7f && byte !== 0x5c) continue;
    parts.push(shown.toString('latin1', plainFrom, i), `\\x${byte.toString(16).padStart(2, '0')}`);
    plainFrom = i + 1;
  }
  parts.push(shown.toString('latin1', plainFrom));
  const text = parts.join('');
  return bytes.length > TRACE_LIMIT ? `${text}... (${bytes.length} bytes)` : text;
}
