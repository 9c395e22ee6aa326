import * as net from 'node:net';
import { PacketReader } from '../../lib/rsp/packet_reader';
import { framePacket } from '../../lib/rsp/packet_writer';
import type { ListenAddress } from '../../lib/gdb_stub';

/** A minimal debugger-side RSP client for tests: send a packet, await the reply. */
export class RspClient {
  private readonly reader = new PacketReader(1 << 20);
  private readonly replies: string[] = [];
  private waiting: ((reply: string) => void) | undefined;
  acks = 0;
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      for (const item of this.reader.push(chunk)) {
        if (item.kind === 'ack') this.acks++;
        if (item.kind !== 'packet') continue;
        if (!this.noAck) socket.write('+');
        const text = item.payload.toString('latin1');
        if (this.waiting) {
          const wake = this.waiting;
          this.waiting = undefined;
          wake(text);
        } else {
          this.replies.push(text);
        }
      }
    });
    socket.on('close', () => (this.closed = true));
  }

  noAck = false;

  static connect(address: ListenAddress): Promise<RspClient> {
    return new Promise((resolve, reject) => {
      const socket =
        'path' in address ? net.connect(address.path) : net.connect(address.port, address.host);
      socket.once('connect', () => resolve(new RspClient(socket)));
      socket.once('error', reject);
    });
  }

  /** The next packet from the stub (a reply, or an unsolicited O packet). */
  next(timeoutMs = 10000): Promise<string> {
    const queued = this.replies.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no reply from the stub')), timeoutMs);
      this.waiting = (reply) => {
        clearTimeout(timer);
        resolve(reply);
      };
    });
  }

  send(payload: string): void {
    this.socket.write(framePacket(payload));
  }

  request(payload: string, timeoutMs?: number): Promise<string> {
    this.send(payload);
    return this.next(timeoutMs);
  }

  interrupt(): void {
    this.socket.write(Buffer.from([0x03]));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }
}
