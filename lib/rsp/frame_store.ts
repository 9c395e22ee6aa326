/**
 * One buffer kept for bulk reply frames (m and x replies up to PacketSize),
 * reused from reply to reply. A new 128 KiB buffer for every reply costs a
 * page fault for each 4 KiB the encoder first touches: 36 faults a 64 KiB
 * `m` reply on PVM, about as long as encoding it. The kept buffer is
 * faulted in once.
 *
 * It is handed out again only when no write still reads it. The connection
 * reports each write of it and passes the returned callback to the write;
 * a net.Socket calls it once the kernel holds the bytes (or the socket has
 * failed), so the store is only for streams that give that guarantee.
 */
export class FrameStore {
  private kept: Buffer | undefined;
  private writesPending = 0;

  /**
   * Frames up to `capacity` bytes use the kept buffer, the one `keep` gives
   * on first use (at least `capacity` bytes), or else an ArrayBuffer of its
   * own; longer frames get their own.
   */
  constructor(
    readonly capacity: number,
    private readonly keep: () => Buffer | undefined = () => undefined,
  ) {}

  /** A buffer of at least `size` bytes: the kept one when it is free, else a new one. */
  readonly allocate = (size: number): Buffer => {
    if (size > this.capacity || this.writesPending > 0) return Buffer.allocUnsafe(size);
    // Never a slice of Node's shared pool: writing frames there would overwrite other buffers.
    this.kept ??= this.keep() ?? Buffer.allocUnsafeSlow(this.capacity);
    return this.kept.subarray(0, size);
  };

  /**
   * Call as `frame` is written; returns the write's callback when the frame
   * lives in the kept buffer (the buffer stays taken until it runs).
   */
  writing(frame: Buffer): (() => void) | undefined {
    if (this.kept === undefined || frame.buffer !== this.kept.buffer) return undefined;
    this.writesPending++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.writesPending--;
    };
  }
}
