import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { dispatch } from './commands/dispatch';
import type { Session } from './commands/types';
import type { Debugger } from './debugger/debugger';
import { log } from './log';
import { RspConnection } from './rsp/connection';
import { framePacket } from './rsp/packet_writer';
import { hexEncode } from './rsp/hex';

/** Where the stub listens: TCP (127.0.0.1 by default) or a Unix socket. */
export type ListenAddress = { host: string; port: number } | { path: string };

export interface GdbStubOptions {
  listen: ListenAddress;
  /** Largest packet accepted and sent; advertised in qSupported. */
  packetSize?: number;
}

interface GdbStubEvents {
  /** A debugger attached. */
  attach: [];
  /** The debugger left (detach, disconnect); the guest runs on. */
  detach: [];
  /** The debugger sent `k`. */
  kill: [];
  /** A line worth telling the user (a refused second client, ...). */
  notice: [string];
}

export const DEFAULT_PACKET_SIZE = 0x20000;

/** Serves one debugger at a time over the GDB remote serial protocol. */
export class GdbStub extends EventEmitter<GdbStubEvents> {
  private server: net.Server | undefined;
  private client: RspConnection | undefined;
  private readonly sockets = new Set<net.Socket>();
  readonly packetSize: number;

  constructor(
    private readonly dbg: Debugger,
    private readonly options: GdbStubOptions,
  ) {
    super();
    this.packetSize = options.packetSize ?? DEFAULT_PACKET_SIZE;
  }

  /** Starts listening; resolves with the address as text. */
  listen(): Promise<string> {
    const server = net.createServer((socket) => this.onConnection(socket));
    this.server = server;
    const address = this.options.listen;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      const done = () => {
        server.off('error', reject);
        resolve(describe(server.address()));
      };
      if ('path' in address) {
        if (fs.existsSync(address.path) && fs.statSync(address.path).isSocket()) {
          fs.unlinkSync(address.path);
        }
        // The socket file is created 0600: only this user may debug the guest.
        const oldMask = process.umask(0o177);
        server.listen(address.path, () => {
          process.umask(oldMask);
          done();
        });
      } else {
        server.listen(address.port, address.host, done);
      }
    });
  }

  /** Stops listening and drops every connection (the session ends as on a disconnect). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.server === undefined) return resolve();
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.setNoDelay(true);
    if (this.client !== undefined) {
      const reason = 'vmm-gdbstub: another debugger is attached; this connection is refused\n';
      socket.end(framePacket('O' + hexEncode(reason)));
      // Whatever it sends now is not read; drop it once it hangs up (or soon).
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
      socket.setTimeout(2000, () => socket.destroy());
      this.emit('notice', 'refused a second debugger connection; the first session goes on');
      return;
    }
    const connection = new RspConnection(socket, this.packetSize);
    this.client = connection;
    const session: Session = { generalVcpu: 0, continueVcpu: -1, packetSize: this.packetSize };
    const queue: Buffer[] = [];
    let busy = false;

    const pump = async () => {
      if (busy) return;
      busy = true;
      while (queue.length > 0 && !connection.isClosed) {
        const payload = queue.shift()!;
        if (log.rsp.enabled) log.rsp(`<- ${payload.toString('latin1').slice(0, 200)}`);
        const { reply, note } = await dispatch({ debugger: this.dbg, session }, payload);
        if (note !== undefined) log.rsp(note);
        if (reply !== null) {
          if (log.rsp.enabled) log.rsp(`-> ${reply.toString().slice(0, 200)}`);
          connection.send(reply);
        }
        if (session.startNoAck) {
          session.startNoAck = false;
          connection.disableAcks();
        }
        if (session.ending !== undefined) {
          this.end(connection, session.ending);
          break;
        }
      }
      busy = false;
    };

    connection.on('packet', (payload) => {
      queue.push(payload);
      void pump();
    });
    connection.on('interrupt', () => {
      log.rsp('<- ^C');
      void this.dbg.interrupt();
    });
    connection.on('warning', (line) => log.rsp(line));
    connection.on('close', () => {
      if (this.client === connection) this.end(connection, 'detach');
    });
    this.emit('attach');
    // Attaching stops the guest, so that gdb's first `?` finds it stopped.
    void this.dbg.interrupt();
  }

  private end(connection: RspConnection, how: 'detach' | 'kill'): void {
    if (this.client !== connection) return;
    this.client = undefined;
    connection.close();
    if (how === 'kill') {
      this.emit('kill');
      return;
    }
    this.dbg.detach();
    this.emit('detach');
  }
}

function describe(address: string | net.AddressInfo | null): string {
  if (address === null) return '';
  if (typeof address === 'string') return `unix:${address}`;
  return `${address.address}:${address.port}`;
}
