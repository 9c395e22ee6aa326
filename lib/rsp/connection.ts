import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { PacketReader } from './packet_reader';
import { framePacket } from './packet_writer';

interface ConnectionEvents {
  packet: [Buffer];
  interrupt: [];
  /** A line for the log: bad checksums, oversized packets. */
  warning: [string];
  close: [];
}

/**
 * One debugger's byte stream: framing, `+`/`-` acknowledgements with
 * retransmission of the last packet on `-`, and no-ack mode.
 */
export class RspConnection extends EventEmitter<ConnectionEvents> {
  private readonly reader: PacketReader;
  private ackMode = true;
  private lastSent: Buffer | undefined;
  private closed = false;

  constructor(
    private readonly stream: Duplex,
    readonly maxPacket: number,
  ) {
    super();
    this.reader = new PacketReader(maxPacket);
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('close', () => this.onClose());
    stream.on('end', () => this.onClose());
    stream.on('error', (error) => {
      this.emit('warning', `connection error: ${error.message}`);
      this.onClose();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** After the OK to QStartNoAckMode has been sent. */
  disableAcks(): void {
    this.ackMode = false;
  }

  send(payload: string | Buffer): void {
    if (this.closed) return;
    const framed = framePacket(payload);
    this.lastSent = this.ackMode ? framed : undefined;
    this.stream.write(framed);
  }

  /** Ends the stream; pending writes are flushed first. */
  close(): void {
    if (!this.closed) this.stream.end();
  }

  private onData(chunk: Buffer): void {
    for (const item of this.reader.push(chunk)) {
      switch (item.kind) {
        case 'packet':
          if (this.ackMode) this.stream.write('+');
          this.emit('packet', item.payload);
          break;
        case 'bad-checksum':
          this.emit(
            'warning',
            `bad checksum on packet ${JSON.stringify(item.payload.subarray(0, 40).toString('latin1'))}`,
          );
          if (this.ackMode) this.stream.write('-');
          break;
        case 'oversized':
          this.emit(
            'warning',
            `packet of ${item.length} bytes exceeds PacketSize ${this.maxPacket}`,
          );
          if (this.ackMode) this.stream.write('+');
          this.send('E01');
          break;
        case 'nack':
          if (this.lastSent !== undefined) this.stream.write(this.lastSent);
          break;
        case 'ack':
          this.lastSent = undefined;
          break;
        case 'interrupt':
          this.emit('interrupt');
          break;
      }
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
}
