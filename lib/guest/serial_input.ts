/**
 * Standard input as the guest's COM1 input, for `--serial stdio`. On a
 * terminal it is switched to raw mode (every key goes to the guest, Ctrl-C
 * included), and Ctrl-A is the escape key as in QEMU: Ctrl-A x quits,
 * Ctrl-A Ctrl-A sends one Ctrl-A. Piped input goes to the guest as it is.
 */

export const ESCAPE = 0x01; // Ctrl-A

export interface SerialInputEvents {
  /** Bytes for the guest. */
  data(bytes: Buffer): void;
  /** The user typed the escape sequence that quits. */
  quit(): void;
}

/**
 * Splits terminal input into bytes for the guest and escape commands; keeps
 * an escape key pressed at the end of one chunk for the next.
 */
export class EscapeDecoder {
  private pendingEscape = false;
  private quitted = false;

  constructor(private readonly events: SerialInputEvents) {}

  push(chunk: Buffer): void {
    if (this.quitted) return; // nothing reaches the guest after the quit
    const out: number[] = [];
    for (const byte of chunk) {
      if (this.pendingEscape) {
        this.pendingEscape = false;
        if (byte === 0x78 /* x */ || byte === 0x58 /* X */) {
          if (out.length > 0) this.events.data(Buffer.from(out));
          this.quitted = true;
          this.events.quit();
          return;
        }
        if (byte === ESCAPE) out.push(ESCAPE);
        // Any other key after Ctrl-A is dropped, as QEMU drops unknown commands.
        continue;
      }
      if (byte === ESCAPE) this.pendingEscape = true;
      else out.push(byte);
    }
    if (out.length > 0) this.events.data(Buffer.from(out));
  }
}

/** What `attachSerialInput` needs of standard input (process.stdin meets it). */
export interface InputStream {
  readonly isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  removeListener(event: 'data', listener: (chunk: Buffer) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/**
 * Feeds `input` to the guest until the returned function is called, which
 * restores the terminal and stops reading.
 */
export function attachSerialInput(input: InputStream, events: SerialInputEvents): () => void {
  const raw = input.isTTY === true && typeof input.setRawMode === 'function';
  const decoder = new EscapeDecoder(events);
  const onData = raw
    ? (chunk: Buffer) => decoder.push(chunk)
    : (chunk: Buffer) => events.data(chunk);
  if (raw) input.setRawMode!(true);
  input.on('data', onData);
  input.resume();
  return () => {
    input.removeListener('data', onData);
    if (raw) input.setRawMode!(false);
    input.pause();
  };
}
