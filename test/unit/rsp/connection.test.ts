import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { RspConnection, type RspConnectionOptions } from '../../../lib/rsp/connection';
import { hexPayload } from '../../../lib/rsp/hex';
import { framePacket } from '../../../lib/rsp/packet_writer';

/**
 * Just enough of a socket: what the connection writes is kept, what it reads
 * is fed in. Write callbacks wait in `callbacks` until a test runs them (the
 * kernel taking the bytes).
 */
class FakeStream extends EventEmitter {
  readonly written: Buffer[] = [];
  /** Bytes the stream holds unwritten, as a socket's writableLength. */
  writableLength = 0;
  /** What each write held at the moment it was written. */
  readonly snapshots: string[] = [];
  readonly callbacks: (() => void)[] = [];
  write(data: string | Buffer, done?: () => void): boolean {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.written.push(bytes);
    this.snapshots.push(bytes.toString('latin1'));
    if (done !== undefined) this.callbacks.push(done);
    return true;
  }
  end(): void {
    this.emit('close');
  }
  feed(text: string | Buffer): void {
    this.emit('data', typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
  }
  /** Everything written since the last call, as text. */
  take(): string {
    return Buffer.concat(this.written.splice(0)).toString('latin1');
  }
}

/** Resolves after the current event-loop turn (when a deferred + goes out on its own). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function open(options: RspConnectionOptions = {}, maxPacket = 4096) {
  const stream = new FakeStream();
  const connection = new RspConnection(stream as unknown as Duplex, maxPacket, options);
  const packets: string[] = [];
  const warnings: string[] = [];
  let interrupts = 0;
  connection.on('packet', (p) => packets.push(p.toString('latin1')));
  connection.on('warning', (w) => warnings.push(w));
  connection.on('interrupt', () => interrupts++);
  return { stream, connection, packets, warnings, interrupts: () => interrupts };
}

describe('RspConnection', () => {
  it('acks a good packet with + and hands it on', async () => {
    const { stream, packets } = open();
    stream.feed('$?#3f');
    expect(packets).toEqual(['?']);
    await nextTurn();
    expect(stream.take()).toBe('+');
  });

  it('sends the + and a reply ready in the same turn as one write, + first', async () => {
    const { stream, connection } = open();
    stream.feed('$qC#b4');
    await Promise.resolve(); // a handler that answers from a microtask
    connection.send('QC01');
    expect(stream.written.map((b) => b.toString('latin1'))).toEqual([
      '+' + framePacket('QC01').toString('latin1'),
    ]);
    await nextTurn();
    expect(stream.written).toHaveLength(1);
  });

  it('sends the + on its own by the end of the turn when the reply waits (c, s)', async () => {
    const { stream, connection } = open();
    stream.feed('$c#63');
    await nextTurn();
    expect(stream.take()).toBe('+');
    connection.send('T05thread:01;');
    expect(stream.take()).toBe(framePacket('T05thread:01;').toString('latin1'));
  });

  it('acks each packet of one chunk, before any reply', () => {
    const { stream, connection, packets } = open();
    stream.feed('$qC#b4$?#3f');
    expect(packets).toEqual(['qC', '?']);
    connection.send('QC01');
    expect(stream.take()).toBe('++' + framePacket('QC01').toString('latin1'));
  });

  it('writes an owed + before a -', () => {
    const { stream } = open();
    stream.feed('$?#3f$?#00');
    expect(stream.take()).toBe('+-');
  });

  it('nacks a bad checksum with -, logs it, and hands nothing on', () => {
    const { stream, packets, warnings } = open();
    stream.feed('$?#00');
    expect(stream.take()).toBe('-');
    expect(packets).toEqual([]);
    expect(warnings[0]).toMatch(/bad checksum/);
  });

  it('retransmits the same bytes on -, and forgets the packet once acked', () => {
    const { stream, connection } = open();
    connection.send('T05thread:01;');
    const first = stream.take();
    stream.feed('-');
    expect(stream.take()).toBe(first);
    stream.feed('-');
    expect(stream.take()).toBe(first);
    stream.feed('+');
    stream.feed('-');
    expect(stream.take()).toBe('');
  });

  it('gives up after 5 retransmissions in a row, with a log line', () => {
    const { stream, connection, warnings } = open();
    connection.send('OK');
    stream.take();
    for (let i = 0; i < 5; i++) {
      stream.feed('-');
      expect(stream.take()).toBe('$OK#9a');
    }
    stream.feed('-');
    expect(stream.take()).toBe('');
    expect(warnings).toEqual([expect.stringMatching(/refused 6 times.*no more retransmissions/)]);
    stream.feed('-');
    expect(stream.take()).toBe('');
  });

  it('counts nacks per packet: a new reply starts from zero', () => {
    const { stream, connection } = open({ maxRetransmits: 1 });
    connection.send('OK');
    stream.feed('-');
    connection.send('E01');
    stream.take();
    stream.feed('-');
    expect(stream.take()).toBe('$E01#a6');
  });

  it('does not retransmit an old reply once a new request arrived', () => {
    const { stream, connection } = open();
    connection.send('OK');
    stream.feed('$?#3f');
    stream.take();
    stream.feed('-');
    expect(stream.take()).toBe('');
  });

  describe('no-ack mode', () => {
    it('sends no + or -, and ignores the + and - the debugger still sends', () => {
      const { stream, connection, packets } = open();
      stream.feed('$QStartNoAckMode#b0');
      connection.send('OK');
      connection.disableAcks();
      expect(stream.take()).toBe('+$OK#9a');
      // gdb acks the OK itself; then nothing is acked either way.
      stream.feed('+');
      stream.feed('$?#3f');
      stream.feed('$?#00');
      stream.feed('-');
      expect(stream.take()).toBe('');
      expect(packets).toEqual(['QStartNoAckMode', '?']);
      expect(connection.acknowledging).toBe(false);
    });
  });

  describe('Ctrl-C', () => {
    it('reports Ctrl-C between packets', () => {
      const { stream, interrupts, warnings } = open();
      stream.feed('\x03');
      expect(interrupts()).toBe(1);
      expect(warnings).toEqual([]);
    });

    it('discards a packet cut by Ctrl-C, logs it, and reads on', () => {
      const { stream, packets, interrupts, warnings } = open();
      stream.feed('$m1000,4\x03');
      expect(interrupts()).toBe(1);
      expect(warnings).toEqual([expect.stringMatching(/Ctrl-C inside a packet: 7 bytes/)]);
      expect(stream.take()).toBe('');
      stream.feed('0#00$?#3f');
      expect(packets).toEqual(['?']);
    });
  });

  it('drops an oversized packet with + and an E reply, and logs it', () => {
    const { stream, packets, warnings } = open({}, 16);
    stream.feed(framePacket('M0,10:' + '00'.repeat(16)));
    expect(stream.take()).toBe('+$E01#a6');
    expect(packets).toEqual([]);
    expect(warnings).toEqual([expect.stringMatching(/38 bytes exceeds PacketSize 16; dropped/)]);
  });

  it('logs a reply over PacketSize, and sends it all the same', () => {
    const { stream, connection, warnings } = open({ runLength: false }, 8);
    connection.send('0123456789');
    expect(stream.take()).toBe('$0123456789#0d');
    expect(warnings).toEqual([expect.stringMatching(/reply of 14 bytes exceeds PacketSize 8/)]);
  });

  describe('run-length encoding', () => {
    it('encodes replies by default', () => {
      const { stream, connection } = open();
      connection.send('00000000ff');
      expect(stream.take()).toBe(framePacket('0*"00ff').toString('latin1'));
    });

    it('can be turned off', () => {
      const { stream, connection } = open({ runLength: false });
      connection.send('00000000ff');
      expect(stream.take()).toBe(
        '$00000000ff#' + framePacket('00000000ff').subarray(-2).toString(),
      );
    });

    it('retransmits the encoded bytes', () => {
      const { stream, connection } = open();
      connection.send('0'.repeat(64));
      const first = stream.take();
      stream.feed('-');
      expect(stream.take()).toBe(first);
    });
  });

  it('traces every packet, ack and Ctrl-C, in and out', () => {
    const lines: string[] = [];
    const { stream, connection } = open({ trace: (line) => lines.push(line) });
    stream.feed('$qC#b4');
    connection.send('QC01');
    stream.feed('-');
    stream.feed('+');
    stream.feed('$g#00');
    stream.feed('\x03');
    connection.send(Buffer.from('b\x00\x03\\', 'latin1'));
    expect(lines).toEqual([
      '<- qC',
      '-> +',
      '-> QC01',
      '<- -',
      '-> (retransmission 1)',
      '<- +',
      '<- (bad checksum) g',
      '-> -',
      '<- ^C',
      '-> b\\x00\\x03\\x5c',
    ]);
  });

  it('cuts long packets in the trace and says how long they were', () => {
    const lines: string[] = [];
    const { connection } = open({ trace: (line) => lines.push(line) }, 0x20000);
    connection.send('a'.repeat(5000));
    expect(lines[0]).toBe(`-> ${'a'.repeat(2000)}... (5000 bytes)`);
  });

  it('reports close once', () => {
    const { stream, connection } = open();
    let closes = 0;
    connection.on('close', () => closes++);
    stream.emit('end');
    stream.emit('close');
    expect(closes).toBe(1);
    expect(connection.isClosed).toBe(true);
    connection.send('OK');
    expect(stream.take()).toBe('');
  });

  describe('bulk frames with reuseFrames', () => {
    // 5000 bytes: hex frames too large for Node's shared pool, so each new
    // one has an ArrayBuffer of its own. No run-length encoding, as
    // framePacket's default.
    const bulk = (fill: number) => hexPayload(Buffer.alloc(5000, fill));
    const options = { reuseFrames: true, runLength: false };
    const packetSize = 0x4000;

    it('frames the next bulk reply into the same buffer once the last write is done', () => {
      const { stream, connection } = open(options, packetSize);
      connection.disableAcks();
      connection.send(bulk(0x11));
      expect(stream.callbacks).toHaveLength(1);
      stream.callbacks.shift()!();
      connection.send(bulk(0x22));
      expect(stream.written[1]!.buffer).toBe(stream.written[0]!.buffer);
      expect(stream.snapshots).toEqual([
        framePacket(bulk(0x11)).toString('latin1'),
        framePacket(bulk(0x22)).toString('latin1'),
      ]);
    });

    it('never overwrites a frame a write still reads', () => {
      const { stream, connection } = open(options, packetSize);
      connection.disableAcks();
      connection.send(bulk(0x11));
      connection.send(bulk(0x22)); // the first write has not called back
      expect(stream.written[1]!.buffer).not.toBe(stream.written[0]!.buffer);
      expect(stream.written[0]!.toString('latin1')).toBe(
        framePacket(bulk(0x11)).toString('latin1'),
      );
      expect(stream.written[1]!.toString('latin1')).toBe(
        framePacket(bulk(0x22)).toString('latin1'),
      );
    });

    it('keeps a retransmitted frame until its write is done', () => {
      const { stream, connection } = open(options, packetSize);
      stream.feed(`$m0,1388#${sumOf('m0,1388')}`);
      connection.send(bulk(0x11));
      stream.callbacks.shift()!();
      stream.feed('-');
      expect(stream.callbacks).toHaveLength(1); // the retransmission's
      const again = stream.written[stream.written.length - 1]!;
      stream.feed('+');
      connection.send(bulk(0x22));
      expect(stream.written[stream.written.length - 1]!.buffer).not.toBe(again.buffer);
      expect(again.toString('latin1')).toBe(framePacket(bulk(0x11)).toString('latin1'));
    });

    it('gives frames longer than PacketSize a buffer of their own', () => {
      const { stream, connection } = open(options, 4096);
      connection.disableAcks();
      connection.send(bulk(0x11)); // 10004 bytes framed, over 4096 + the spare
      expect(stream.callbacks).toHaveLength(0);
      expect(stream.snapshots).toEqual([framePacket(bulk(0x11)).toString('latin1')]);
    });

    it('offers a read buffer whose bulk replies are framed in the same memory', () => {
      const { stream, connection } = open(options, packetSize);
      connection.disableAcks();
      const read = connection.bulkReadBuffer(5000)!;
      read.fill(0x5a, 0, 5000);
      connection.send(hexPayload(read.subarray(0, 5000)));
      // One memory: the WebAssembly codec encodes the reply (bulk_codec.ts).
      expect(stream.written[0]!.buffer).toBe(read.buffer);
      expect(stream.snapshots).toEqual([
        framePacket(hexPayload(Buffer.alloc(5000, 0x5a))).toString('latin1'),
      ]);
      expect(connection.bulkReadBuffer(100)).toBe(read);
    });

    it('offers no read buffer for a small read before a bulk one (no WebAssembly memory for it)', () => {
      const { connection } = open(options, packetSize);
      expect(connection.bulkReadBuffer(64)).toBeUndefined();
      const read = connection.bulkReadBuffer(5000)!;
      expect(connection.bulkReadBuffer(64)).toBe(read);
    });

    it('offers no read buffer beyond PacketSize, nor without reuseFrames', () => {
      expect(open(options, packetSize).connection.bulkReadBuffer(packetSize + 1)).toBeUndefined();
      expect(open({}, packetSize).connection.bulkReadBuffer(100)).toBeUndefined();
    });

    it('is off by default: writes carry no callback', () => {
      const { stream, connection } = open({ runLength: false }, packetSize);
      connection.disableAcks();
      connection.send(bulk(0x11));
      connection.send(bulk(0x22));
      expect(stream.callbacks).toHaveLength(0);
      expect(stream.written[1]!.buffer).not.toBe(stream.written[0]!.buffer);
    });
  });
});

function sumOf(text: string): string {
  let sum = 0;
  for (const c of Buffer.from(text, 'latin1')) sum += c;
  return (sum & 0xff).toString(16).padStart(2, '0');
}

describe('RspConnection: writes and reads around the stream (writeNow, feed)', () => {
  it('writes a reply through writeNow when the stream holds nothing, the rest through the stream', () => {
    const taken: string[] = [];
    let room = Infinity;
    const writeNow = (frame: Buffer) => {
      const n = Math.min(frame.length, room);
      taken.push(frame.toString('latin1', 0, n));
      return n;
    };
    const { stream, connection } = open({ writeNow });
    connection.disableAcks();
    connection.send('OK');
    expect(taken).toEqual(['$OK#9a']);
    expect(stream.take()).toBe('');
    room = 3; // the socket takes part of it now
    connection.send('E01');
    expect(taken[1]).toBe('$E0');
    expect(stream.take()).toBe('1#a6');
    stream.writableLength = 10; // earlier bytes still wait: this one goes after them
    connection.send('OK');
    expect(taken).toHaveLength(2);
    expect(stream.take()).toBe('$OK#9a');
  });

  it('hands on what feed() gives as if the stream had read it, and nothing once closed', () => {
    const { stream, connection, packets, interrupts } = open();
    connection.disableAcks();
    connection.feed(Buffer.from('$g#67\x03$qOff', 'latin1'));
    connection.feed(Buffer.from('sets#4b', 'latin1'));
    expect(packets).toEqual(['g', 'qOffsets']);
    expect(interrupts()).toBe(1);
    stream.end();
    connection.feed(Buffer.from('$?#3f', 'latin1'));
    expect(packets).toEqual(['g', 'qOffsets']);
  });
});
