import * as net from 'node:net';
import { PacketReader } from '../lib/rsp/packet_reader';
import { framePacket } from '../lib/rsp/packet_writer';

const STAR = 0x2a;
const COUNT_BIAS = 29;

/**
 * Expands run-length encoding as gdb does (before any unescaping). Replies
 * without a `*` (the common case for hex memory) are returned as they are.
 */
export function expandRunLength(data: Buffer): Buffer {
  let star = data.indexOf(STAR);
  if (star < 0) return data;
  const parts: Buffer[] = [];
  let from = 0;
  while (star >= 0) {
    if (star === 0 || star + 1 >= data.length) throw new Error('run-length count out of place');
    parts.push(data.subarray(from, star));
    parts.push(Buffer.alloc(data[star + 1]! - COUNT_BIAS, data[star - 1]!));
    from = star + 2;
    star = data.indexOf(STAR, from);
  }
  parts.push(data.subarray(from));
  return Buffer.concat(parts);
}

/**
 * The debugger side of one RSP connection, made for timing: one request in
 * flight, Nagle off, replies handed over as Buffers (run-length expanded),
 * acks sent until no-ack mode is on. A packet that arrives while nothing
 * waits (QEMU's stop reply on connect) is kept for the next wait.
 */
export class BenchClient {
  // 0x03 inside a reply is data (binary x replies), never an interrupt.
  private readonly reader = new PacketReader(1 << 22, { interruptInBody: false });
  private waiting: ((reply: Buffer) => void) | undefined;
  private failed: ((error: Error) => void) | undefined;
  private readonly early: Buffer[] = [];
  private acking = true;
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      for (const item of this.reader.push(chunk)) {
        if (item.kind !== 'packet') continue;
        if (this.acking) socket.write('+');
        const reply = expandRunLength(item.payload);
        const wake = this.waiting;
        if (wake === undefined) {
          this.early.push(reply);
          continue;
        }
        this.waiting = undefined;
        this.failed = undefined;
        wake(reply);
      }
    });
    const fail = () => {
      this.closed = true;
      this.failed?.(new Error('the stub closed the connection'));
    };
    socket.on('close', fail);
    socket.on('error', fail);
  }

  /** Connects, retrying while the server is not listening yet. */
  static async connect(port: number, timeoutMs = 10000): Promise<BenchClient> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      try {
        return await new Promise<BenchClient>((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1');
          socket.once('connect', () => {
            socket.removeAllListeners('error');
            resolve(new BenchClient(socket));
          });
          socket.once('error', reject);
        });
      } catch (error) {
        if (performance.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  get acknowledging(): boolean {
    return this.acking;
  }

  /** The next packet from the stub. */
  next(timeoutMs = 30000): Promise<Buffer> {
    const queued = this.early.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.closed) return Promise.reject(new Error('the stub closed the connection'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`no reply in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = (reply) => {
        clearTimeout(timer);
        resolve(reply);
      };
      this.failed = (error) => {
        clearTimeout(timer);
        reject(error);
      };
    });
  }

  send(payload: string | Buffer): void {
    this.socket.write(framePacket(payload));
  }

  request(payload: string | Buffer, timeoutMs?: number): Promise<Buffer> {
    this.send(payload);
    return this.next(timeoutMs);
  }

  async text(payload: string, timeoutMs?: number): Promise<string> {
    return (await this.request(payload, timeoutMs)).toString('latin1');
  }

  /** Drops whatever arrived unasked (QEMU's stop reply when a debugger connects). */
  discardEarly(): number {
    const count = this.early.length;
    this.early.length = 0;
    return count;
  }

  interrupt(): void {
    this.socket.write(Buffer.from([0x03]));
  }

  /** Sends and expects no acks from now on, unasked (the floor's echo servers take none). */
  skipAcks(): void {
    this.acking = false;
  }

  /** QStartNoAckMode; false when the stub does not take it. */
  async startNoAck(): Promise<boolean> {
    const reply = await this.text('QStartNoAckMode');
    if (reply !== 'OK') return false;
    this.acking = false;
    return true;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
      setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, 2000).unref();
    });
  }
}
