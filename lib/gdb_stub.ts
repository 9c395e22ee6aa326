import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import { dirname } from 'node:path';
import { dispatch } from './commands/dispatch';
import type { Session } from './commands/types';
import type { Debugger } from './debugger/debugger';
import { log } from './log';
import { prepareCodec } from './rsp/bulk_codec';
import { RspConnection } from './rsp/connection';
import { framePacket } from './rsp/packet_writer';
import { hexEncode, hexPayload } from './rsp/hex';
import { REGISTER_BYTES } from './arch/x86_64/gdb_registers';
import { payloadBytes } from './rsp/encoded_payload';

/** Where the stub listens: TCP (127.0.0.1 by default) or a Unix socket. */
export type ListenAddress = { host: string; port: number } | { path: string };

export interface GdbStubOptions {
  listen: ListenAddress;
  /** Largest packet accepted and sent; advertised in qSupported. */
  packetSize?: number;
  /** Run-length encode replies (default true; gdb and lldb both decode it). */
  runLengthEncoding?: boolean;
  /**
   * Receives a line for every packet, ack and Ctrl-C in and out (`<-` from
   * the debugger, `->` to it). The `vmm-gdbstub:rsp` debug log is separate.
   */
  traceRsp?: (line: string) => void;
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

/**
 * 512 KiB: a 256 KiB `m` or a 512 KiB `x` a request. Bulk reads are bound by
 * the bytes' encoding, not by the wire; fewer, larger replies save the round
 * trip and the wake-ups of each: reading 16 MiB with `m` took 44 ms here
 * against 55-59 ms at 128 KiB, with `x` 50 against 56.
 */
export const DEFAULT_PACKET_SIZE = 0x80000;

/** Console output held for one O packet at most this long (hex doubles it on the wire). */
const OUTPUT_BATCH_BYTES = 8192;

/**
 * How long the JS thread polls the debugger's socket after its replies
 * before it returns to the event loop (Vmm.spinForInput): gdb and lldb send
 * their next request within tens of microseconds of a reply while they
 * step, hit breakpoints or attach, and a request that arrives while the
 * thread polls costs no wake-up of a sleeping CPU.
 */
const SPIN_FOR_NEXT_REQUEST_US = 200;

/**
 * A request found by that poll is read at once (Vmm.readSocketNow), not
 * after a turn of the event loop, and replies are written at once
 * (Vmm.writeSocketNow) rather than through Node's stream: each saves about
 * as much as its system call costs. Requests read so keep the event loop
 * from turning, so after this long without a turn the next one waits for
 * Node's own read (a client streaming requests, a 16 MiB dump).
 */
const READ_NOW_TURN_MS = 2;
/** The most a read at once takes, as much as one of libuv's reads. */
const READ_NOW_BYTES = 64 * 1024;

/** The socket's descriptor: libuv's handle keeps it; Node has no public accessor for it. */
function socketFd(socket: net.Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** At most one notice of refused connections this often (the first is told at once). */
export const REFUSAL_NOTICE_INTERVAL_MS = 10000;

/** Serves one debugger at a time over the GDB remote serial protocol. */
/** What gdb and lldb send first on attach that is safe to run with nobody attached (warmUp). */
const WARM_UP_PACKETS = [
  'qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;vContSupported+;QThreadEvents+',
  'vMustReplyEmpty',
  'qXfer:features:read:target.xml:0,ffb',
  'qXfer:features:read:target.xml:ffb,ffb',
  'qXfer:features:read:target.xml:1ff6,ffb',
  'qTStatus',
  'qXfer:threads:read::0,1000',
  'qAttached',
  'qOffsets',
  'qXfer:memory-map:read::0,1000',
  'qC',
  'qfThreadInfo',
  'qsThreadInfo',
  'vCont?',
  'qSymbol::',
  'qHostInfo',
  'qProcessInfo',
  'qRegisterInfo0',
  'qRegisterInfo10',
];

export class GdbStub extends EventEmitter<GdbStubEvents> {
  private server: net.Server | undefined;
  private client: RspConnection | undefined;
  private readonly sockets = new Set<net.Socket>();
  private lastRefusalNotice: number | undefined;
  private refusalsUnreported = 0;
  /** Console output not sent yet (queueOutput). */
  private pendingOutput = '';
  readonly packetSize: number;

  constructor(
    private readonly dbg: Debugger,
    private readonly options: GdbStubOptions,
  ) {
    super();
    this.packetSize = options.packetSize ?? DEFAULT_PACKET_SIZE;
    // dprintf output and evaluation errors: console output, which gdb takes while the guest runs.
    dbg.on('output', (text) => this.queueOutput(text));
    // Before the stop reply: the lines that explain the stop come first.
    dbg.on('stopped', () => this.flushOutput());
  }

  /**
   * Console output for the client, sent as one O packet a turn of the event
   * loop (or every OUTPUT_BATCH_BYTES): a busy dprintf is many lines a
   * millisecond, and a packet and a write for each cost gdb and the stub more
   * than the line.
   */
  private queueOutput(text: string): void {
    if (this.client === undefined) return;
    if (this.pendingOutput === '') setImmediate(() => this.flushOutput());
    this.pendingOutput += text;
    if (this.pendingOutput.length >= OUTPUT_BATCH_BYTES) this.flushOutput();
  }

  private flushOutput(): void {
    if (this.pendingOutput === '') return;
    this.client?.send('O' + hexEncode(Buffer.from(this.pendingOutput, 'latin1')));
    this.pendingOutput = '';
  }

  /** Starts listening; resolves with the address as text. */
  async listen(): Promise<string> {
    const address = this.options.listen;
    if ('path' in address) await removeStaleSocket(address.path);
    const server = net.createServer((socket) => this.onConnection(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      const done = () => {
        server.off('error', reject);
        // While no debugger waits: the first-use work of an attach.
        setImmediate(() => this.warmUp());
        resolve(describe(server.address()));
      };
      if ('path' in address) {
        // The socket file is created 0600: only this user may debug the guest.
        // The bind happens inside listen(), so the umask is restored at once,
        // on failure too, before any other file of this process is created.
        const oldMask = process.umask(0o177);
        try {
          server.listen(address.path, done);
        } finally {
          process.umask(oldMask);
        }
      } else {
        server.listen(address.port, address.host, done);
      }
    });
  }

  /**
   * Runs what a debugger's attach runs first (the packets that neither need
   * the guest stopped nor change anything), over a connection to nowhere,
   * and compiles the bulk codec: done per process here, not inside the
   * first attach, which it made several times slower than QEMU's.
   */
  private warmUp(): void {
    prepareCodec();
    const stream = new Duplex({
      read: () => undefined,
      write: (_chunk, _encoding, done: () => void) => done(),
    });
    const connection = new RspConnection(stream, this.packetSize, {
      runLength: this.options.runLengthEncoding ?? true,
    });
    const session: Session = { generalVcpu: 0, continueVcpu: -1, packetSize: this.packetSize };
    connection.on('packet', (payload) => {
      void dispatch({ debugger: this.dbg, session }, payload).then(({ reply }) => {
        if (reply !== null) connection.send(reply);
      });
    });
    for (const packet of WARM_UP_PACKETS) stream.push(framePacket(packet));
    stream.push('+');
    connection.send(hexPayload(Buffer.alloc(REGISTER_BYTES)));
    setImmediate(() => stream.destroy());
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
      this.noteRefusal();
      return;
    }
    const connection = new RspConnection(socket, this.packetSize, {
      runLength: this.options.runLengthEncoding ?? true,
      trace: this.options.traceRsp,
      // A net.Socket calls back once the kernel holds the bytes.
      reuseFrames: true,
      writeNow: this.writeNow(socket),
    });
    this.client = connection;
    // `monitor log rsp on` without a traceRsp option traces to stderr, as --trace-rsp does.
    const traceTo =
      this.options.traceRsp ?? ((line) => process.stderr.write(`vmm-gdbstub: rsp ${line}\n`));
    const session: Session = {
      generalVcpu: 0,
      continueVcpu: -1,
      packetSize: this.packetSize,
      sendEarly: (payload) => connection.send(payload),
      connectionReadBuffer: (length) => connection.bulkReadBuffer(length),
      traceRsp: (on) => {
        connection.trace = on ? traceTo : undefined;
      },
    };
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
          if (log.rsp.enabled) log.rsp(`-> ${payloadBytes(reply).toString('latin1', 0, 200)}`);
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
      if (queue.length === 0 && !connection.isClosed) {
        this.spinForNextRequest(socket, connection, readNowTurn);
      }
    };
    // When the requests read at once began to keep the event loop from turning.
    const readNowTurn: { since?: number } = {};

    connection.on('packet', (payload) => {
      queue.push(payload);
      void pump();
    });
    connection.on('interrupt', () => {
      log.rsp('<- ^C');
      session.interrupts = (session.interrupts ?? 0) + 1;
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

  /**
   * Polls the socket briefly for the debugger's next request
   * (SPIN_FOR_NEXT_REQUEST_US) and reads one that came at once
   * (READ_NOW_TURN_MS).
   */
  private spinForNextRequest(
    socket: net.Socket,
    connection: RspConnection,
    turn: { since?: number },
  ): void {
    const fd = socketFd(socket);
    const vmm = this.dbg.vmm;
    if (fd === undefined || vmm.spinForInput?.(fd, SPIN_FOR_NEXT_REQUEST_US) !== true) return;
    // Only bytes Node has not read yet: what it holds goes first.
    if (vmm.readSocketNow === undefined || socket.readableLength > 0) return;
    const now = performance.now();
    if (turn.since === undefined) {
      turn.since = now;
      setImmediate(() => (turn.since = undefined));
    } else if (now - turn.since > READ_NOW_TURN_MS) {
      return;
    }
    const chunk = vmm.readSocketNow(fd, READ_NOW_BYTES);
    if (chunk !== undefined) connection.feed(chunk);
  }

  /** Vmm.writeSocketNow for the socket's replies, where the vmm has it. */
  private writeNow(socket: net.Socket): ((frame: Buffer) => number) | undefined {
    const vmm = this.dbg.vmm;
    if (vmm.writeSocketNow === undefined) return undefined;
    return (frame) => {
      const fd = socketFd(socket);
      return fd === undefined ? 0 : vmm.writeSocketNow!(fd, frame);
    };
  }

  /**
   * One notice for a refused connection, then at most one a
   * REFUSAL_NOTICE_INTERVAL_MS counting the others: a storm of clients must
   * not flood the log.
   */
  private noteRefusal(): void {
    const now = performance.now();
    if (
      this.lastRefusalNotice !== undefined &&
      now - this.lastRefusalNotice < REFUSAL_NOTICE_INTERVAL_MS
    ) {
      this.refusalsUnreported++;
      return;
    }
    const others = this.refusalsUnreported;
    this.refusalsUnreported = 0;
    this.lastRefusalNotice = now;
    this.emit(
      'notice',
      others === 0
        ? 'refused a second debugger connection; the first session goes on'
        : `refused a second debugger connection (and ${others} more since the last notice); the first session goes on`,
    );
  }

  private end(connection: RspConnection, how: 'detach' | 'kill'): void {
    if (this.client !== connection) return;
    this.client = undefined;
    connection.close();
    if (how === 'kill') {
      // Guest memory as without the debugger, even though the VM goes away.
      this.dbg.removeAllBreakpoints();
      this.emit('kill');
      return;
    }
    this.dbg.detach();
    this.emit('detach');
  }
}

/**
 * Removes a socket file left by a stub that is gone; one that still accepts
 * connections belongs to a live stub and is an EADDRINUSE error.
 */
async function removeStaleSocket(path: string): Promise<void> {
  // bind() reports a missing directory as EACCES; say what is missing instead.
  const dir = dirname(path);
  if (!fs.existsSync(dir)) {
    const error: NodeJS.ErrnoException = new Error(`no directory ${dir}`);
    error.code = 'ENOENT';
    throw error;
  }
  if (!fs.existsSync(path) || !fs.statSync(path).isSocket()) return;
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) {
    const error: NodeJS.ErrnoException = new Error(`${path} is in use by a running stub`);
    error.code = 'EADDRINUSE';
    throw error;
  }
  fs.unlinkSync(path);
}

function describe(address: string | net.AddressInfo | null): string {
  if (address === null) return '';
  if (typeof address === 'string') return `unix:${address}`;
  return `${address.address}:${address.port}`;
}
