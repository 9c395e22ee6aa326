import type { Payload } from '../rsp/encoded_payload';
import type { Debugger } from '../debugger/debugger';

/** The per-connection protocol state the commands read and change. */
export interface Session {
  /** vCPU that g, m and friends act on (Hg). */
  generalVcpu: number;
  /** vCPU that c and s act on (Hc); -1 for all. */
  continueVcpu: number;
  /** Largest packet we accept and send. */
  packetSize: number;
  /** The features gdb listed in qSupported, as sent (`swbreak+`, `xmlRegisters=i386`). */
  clientFeatures?: string[];
  /** Set by QStartNoAckMode: acks stop after this reply. */
  startNoAck?: boolean;
  listThreadsInStopReply?: boolean; // lldb's QListThreadsInStopReply: T replies list every thread
  /** Set by D or k: the server closes the connection after replying. */
  ending?: 'detach' | 'kill';
  /** Sends a packet at once, ahead of the reply (qRcmd's `O` output); set by the stub. */
  sendEarly?: (payload: string) => void;
  /** Turns this connection's packet trace on stderr on or off (monitor log rsp); set by the stub. */
  traceRsp?: (on: boolean) => void;
  /** Ctrl-Cs received so far; a long qSearch gives up when it changes. Set by the stub. */
  interrupts?: number;
  /** Where m and x read guest memory (bulkReadBuffer); kept for the connection. */
  readBuffer?: Buffer;
  /**
   * The connection's own buffer for bulk reads of `length` bytes, if it
   * offers one (RspConnection.bulkReadBuffer: their replies are then encoded
   * by the WebAssembly codec); set by the stub.
   */
  connectionReadBuffer?: (length: number) => Buffer | undefined;
}

export interface CommandContext {
  debugger: Debugger;
  session: Session;
}

/**
 * A reply to send, or `null` for a packet that takes no reply (k). A
 * Promise for replies that wait on the guest (c, s).
 */
export type Reply = Payload | null;

/** One packet: a parser from the body to a typed request, and its handler. */
export interface Command<Request> {
  /** The packet's name: the prefix the dispatcher matches. */
  readonly prefix: string;
  readonly argumentFollows?: boolean; // a q/Q name the argument follows directly (qRegisterInfo1a)
  /** The body is what follows the prefix; undefined means malformed (E reply). */
  parse(body: string): Request | undefined;
  handle(context: CommandContext, request: Request): Reply | Promise<Reply>;
}

/** Error replies, errno-numbered as gdb's own stubs do. */
export const Errors = {
  /** Malformed packet or argument. */
  invalid: 'E16',
  /** Address not readable or writable. */
  fault: 'E0e',
  /** No such thread. */
  noThread: 'E03',
  noSpace: 'E1c', // ENOSPC: every debug slot is in use
  /** EINTR: a Ctrl-C ended a long request (qSearch). */
  interrupted: 'E04',
  /** EIO: the vCPU asked to run cannot (waiting for SIPI, stopped for good). */
  cannotRun: 'E05',
} as const;
