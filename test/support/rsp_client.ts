import * as net from 'node:net';
import { PacketReader } from '../../lib/rsp/packet_reader';
import { framePacket } from '../../lib/rsp/packet_writer';
import type { ListenAddress } from '../../lib/gdb_stub';

/**
 * Expands the stub's run-length encoding as gdb does (before unescaping): the
 * byte before `*` is repeated (count byte - 29) more times. Written apart from
 * lib/rsp/run_length.ts so that each checks the other.
 */
export function decodeRunLength(data: Uint8Array): Buffer {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const byte = data[i]!;
    if (byte === 0x2a && out.length > 0 && i + 1 < data.length) {
      const repeats = data[++i]! - 29;
      if (repeats < 3 || repeats > 97) throw new Error(`bad run-length count ${repeats}`);
      out.push(...new Array<number>(repeats).fill(out[out.length - 1]!));
    } else {
      out.push(byte);
    }
  }
  return Buffer.from(out);
}

/** A minimal debugger-side RSP client for tests: send a packet, await the reply. */
export class RspClient {
  // 0x03 in a reply is data (binary x replies), never an interrupt.
  private readonly reader = new PacketReader(1 << 20, { interruptInBody: false });
  private readonly replies: string[] = [];
  private waiting: ((reply: string) => void) | undefined;
  private readonly chunks: Buffer[] = [];
  private rawWaiters: (() => void)[] = [];
  /** `+` received from the stub. */
  acks = 0;
  /** `-` received from the stub. */
  nacks = 0;
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      this.chunks.push(chunk);
      for (const item of this.reader.push(chunk)) {
        if (item.kind === 'ack') this.acks++;
        if (item.kind === 'nack') this.nacks++;
        if (item.kind !== 'packet') continue;
        if (!this.noAck) socket.write('+');
        const text = decodeRunLength(item.payload).toString('latin1');
        if (this.waiting) {
          const wake = this.waiting;
          this.waiting = undefined;
          wake(text);
        } else {
          this.replies.push(text);
        }
      }
      for (const wake of this.rawWaiters.splice(0)) wake();
    });
    socket.on('close', () => (this.closed = true));
  }

  /** True: the client sends no `+` for replies (no-ack mode, or a test that acks by hand). */
  noAck = false;

  static connect(address: ListenAddress): Promise<RspClient> {
    return new Promise((resolve, reject) => {
      const socket =
        'path' in address ? net.connect(address.path) : net.connect(address.port, address.host);
      socket.once('connect', () => resolve(new RspClient(socket)));
      socket.once('error', reject);
    });
  }

  /** The next packet from the stub (a reply, or an unsolicited O packet), run-length decoded. */
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

  /** Writes bytes as they are: acks, nacks, junk, hand-made frames. */
  sendRaw(bytes: string | Buffer): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  request(payload: string, timeoutMs?: number): Promise<string> {
    this.send(payload);
    return this.next(timeoutMs);
  }

  interrupt(): void {
    this.socket.write(Buffer.from([0x03]));
  }

  /** Every byte received from the stub so far, framing and acks included. */
  received(): Buffer {
    if (this.chunks.length > 1)
      this.chunks.splice(0, this.chunks.length, Buffer.concat(this.chunks));
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** Resolves once the bytes received so far satisfy `done`. */
  async waitForBytes(done: (received: Buffer) => boolean, timeoutMs = 10000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.received())) {
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) throw new Error('the stub did not send the expected bytes');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.rawWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.received();
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }
}
