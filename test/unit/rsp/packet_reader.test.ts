import { checksum } from '../../../lib/rsp/checksum';
import { ReceiveMemory } from '../../../lib/rsp/bulk_codec';
import { PacketReader } from '../../../lib/rsp/packet_reader';
import { framePacket, RUN_LENGTH_MAX_PAYLOAD } from '../../../lib/rsp/packet_writer';
import { withoutWebAssembly } from '../../support/without_webassembly';

const bytes = (text: string) => Buffer.from(text, 'latin1');

/** `$body#xx` with the checksum digits in upper case. */
function frameUpper(body: string): Buffer {
  return bytes(`$${body}#${checksum(bytes(body)).toString(16).padStart(2, '0').toUpperCase()}`);
}

describe('PacketReader', () => {
  it('returns a packet whose checksum matches', () => {
    const reader = new PacketReader(4096);
    expect(reader.push(bytes('$g#67'))).toEqual([{ kind: 'packet', payload: bytes('g') }]);
  });

  it('accepts checksum digits in either case', () => {
    const reader = new PacketReader(4096);
    expect(reader.push(frameUpper('OK'))).toEqual([{ kind: 'packet', payload: bytes('OK') }]);
    expect(reader.push(bytes('$OK#9a'))).toEqual([{ kind: 'packet', payload: bytes('OK') }]);
    expect(reader.push(bytes('$OK#9A'))).toEqual([{ kind: 'packet', payload: bytes('OK') }]);
  });

  it('reports a bad checksum with the payload', () => {
    const reader = new PacketReader(4096);
    expect(reader.push(bytes('$g#00'))).toEqual([{ kind: 'bad-checksum', payload: bytes('g') }]);
  });

  it('treats non-hex checksum digits as a bad checksum', () => {
    const reader = new PacketReader(4096);
    expect(reader.push(bytes('$g#zz'))[0]!.kind).toBe('bad-checksum');
  });

  it('reassembles a packet split across chunks at every position', () => {
    const framed = framePacket('m1000,40');
    for (let cut = 0; cut <= framed.length; cut++) {
      const reader = new PacketReader(4096);
      const items = [...reader.push(framed.subarray(0, cut)), ...reader.push(framed.subarray(cut))];
      expect(items).toEqual([{ kind: 'packet', payload: bytes('m1000,40') }]);
    }
  });

  it('reassembles packets fed one byte at a time', () => {
    const reader = new PacketReader(4096);
    const stream = Buffer.concat([framePacket('?'), bytes('+'), framePacket('qC')]);
    const items = [...stream].flatMap((byte) => reader.push(Buffer.from([byte])));
    expect(items).toEqual([
      { kind: 'packet', payload: bytes('?') },
      { kind: 'ack' },
      { kind: 'packet', payload: bytes('qC') },
    ]);
  });

  it('reports acks, nacks and Ctrl-C between packets', () => {
    const reader = new PacketReader(4096);
    expect(reader.push(bytes('+-\x03')).map((i) => i.kind)).toEqual(['ack', 'nack', 'interrupt']);
  });

  it('skips junk between packets and resyncs on a new $', () => {
    const reader = new PacketReader(4096);
    const items = reader.push(bytes('garbage$trunc$?#3f'));
    expect(items).toEqual([{ kind: 'packet', payload: bytes('?') }]);
  });

  it('resyncs without a nack when a $ replaces a checksum digit', () => {
    for (const text of ['$g#$?#3f', '$g#6$?#3f']) {
      const reader = new PacketReader(4096);
      expect(reader.push(bytes(text))).toEqual([{ kind: 'packet', payload: bytes('?') }]);
    }
  });

  it('leaves } escapes in the payload for the commands to undo', () => {
    const reader = new PacketReader(4096);
    const body = 'X0,1:}]';
    expect(reader.push(framePacket(body))).toEqual([{ kind: 'packet', payload: bytes(body) }]);
  });

  describe('Ctrl-C inside a packet', () => {
    it('discards a text packet cut by Ctrl-C and reports the interrupt', () => {
      const reader = new PacketReader(4096);
      const items = reader.push(bytes('$m1000,\x0340#00$?#3f'));
      expect(items).toEqual([
        { kind: 'interrupt', discarded: 6 },
        { kind: 'packet', payload: bytes('?') },
      ]);
    });

    it('discards a packet cut by Ctrl-C in its checksum', () => {
      for (const text of ['$g#\x03', '$g#6\x03']) {
        const reader = new PacketReader(4096);
        expect(reader.push(bytes(text))).toEqual([{ kind: 'interrupt', discarded: 1 }]);
        expect(reader.push(bytes('$g#67'))).toEqual([{ kind: 'packet', payload: bytes('g') }]);
      }
    });

    it('works across chunks', () => {
      const reader = new PacketReader(4096);
      expect(reader.push(bytes('$qSupp'))).toEqual([]);
      expect(reader.push(bytes('\x03'))).toEqual([{ kind: 'interrupt', discarded: 5 }]);
    });

    it.each([
      ['X1000,3:', 'X'],
      ['vFile:pwrite:3,0,', 'vFile'],
      ['vFlashWrite:1000:', 'vFlashWrite'],
      ['qXfer:features:write:a:0:', 'qXfer write'],
      ['qSearch:memory:1000;100;', 'qSearch:memory'],
    ])('keeps 0x03 as data in the binary packet %j (%s)', (head) => {
      const reader = new PacketReader(4096);
      const body = bytes(head + '\x03a\x03');
      expect(reader.push(framePacket(body))).toEqual([{ kind: 'packet', payload: body }]);
    });

    it('treats 0x03 before a binary header is complete as Ctrl-C', () => {
      const reader = new PacketReader(4096);
      expect(reader.push(bytes('$vFi\x03'))).toEqual([{ kind: 'interrupt', discarded: 3 }]);
      expect(reader.push(bytes('$qXfer:features:read:\x03'))).toEqual([
        { kind: 'interrupt', discarded: 20 },
      ]);
    });

    it('keeps 0x03 as data everywhere when told to (a client reading x replies)', () => {
      const reader = new PacketReader(4096, { interruptInBody: false });
      const body = bytes('b\x03\x03\x03');
      expect(reader.push(framePacket(body))).toEqual([{ kind: 'packet', payload: body }]);
      expect(reader.push(bytes('\x03'))).toEqual([{ kind: 'interrupt' }]);
    });
  });

  describe('PacketSize', () => {
    it('drops a packet over the size limit whole and says how long it was', () => {
      const reader = new PacketReader(8);
      const items = reader.push(bytes('$0123456789#00$?#3f'));
      expect(items).toEqual([
        { kind: 'oversized', length: 10 },
        { kind: 'packet', payload: bytes('?') },
      ]);
    });

    it('accepts a packet of exactly the limit and refuses one byte more', () => {
      const reader = new PacketReader(16);
      const exact = 'M0,6:' + 'a'.repeat(11);
      expect(reader.push(framePacket(exact))).toEqual([{ kind: 'packet', payload: bytes(exact) }]);
      expect(reader.push(framePacket(exact + 'a'))).toEqual([{ kind: 'oversized', length: 17 }]);
    });

    it('grows its buffer up to the limit for large packets', () => {
      const reader = new PacketReader(0x20000);
      const body = 'M0,' + 'ab'.repeat(0x8000);
      const items = reader.push(framePacket(body));
      expect(items).toEqual([{ kind: 'packet', payload: bytes(body) }]);
    });

    it('accepts a 0x20000-byte X packet at PacketSize 0x20000, in chunks', () => {
      const reader = new PacketReader(0x20000);
      const head = 'X100000,1fff5:';
      const data = Buffer.alloc(0x20000 - head.length, 0x41);
      const body = Buffer.concat([bytes(head), data]);
      expect(body.length).toBe(0x20000);
      const framed = framePacket(body);
      const items = [];
      for (let at = 0; at < framed.length; at += 65536) {
        items.push(...reader.push(framed.subarray(at, at + 65536)));
      }
      expect(items).toEqual([{ kind: 'packet', payload: body }]);
    });

    it('checks large packets in its WebAssembly buffer: good and bad sums, any chunking', () => {
      // Every byte value but the framing ones, 300 KiB: past the first 4 KiB
      // the buffer is WebAssembly memory, summed by SIMD.
      const data = Buffer.from(
        Array.from({ length: 300 * 1024 }, (_, i) => (i * 7 + 3) & 0xff).map((b) =>
          b === 0x23 || b === 0x24 ? 0x41 : b,
        ),
      );
      const framed = framePacket(Buffer.concat([bytes('X0,0:'), data]));
      const payload = framed.subarray(1, framed.length - 3);
      const bad = Buffer.from(framed);
      bad[bad.length - 1] = bad[bad.length - 1] === 0x30 ? 0x31 : 0x30;
      const reader = new PacketReader(0x80000);
      for (const chunkSize of [65536, 4093, 1 << 20]) {
        const items = [];
        for (const frame of [framed, bad, framed]) {
          for (let at = 0; at < frame.length; at += chunkSize) {
            items.push(...reader.push(frame.subarray(at, at + chunkSize)));
          }
        }
        expect(items.map((item) => item.kind)).toEqual(['packet', 'bad-checksum', 'packet']);
        expect(items[0]).toEqual({ kind: 'packet', payload });
      }
    });

    it('goes on in a plain buffer when its WebAssembly memory cannot grow', () => {
      const original = ReceiveMemory.prototype.grow;
      let grows = 0;
      // The first grow works; later ones find the memory exhausted.
      const grow = jest.spyOn(ReceiveMemory.prototype, 'grow').mockImplementation(function (
        this: ReceiveMemory,
        bytes: number,
      ) {
        if (grows++ === 0) return original.call(this, bytes);
        throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded');
      });
      try {
        const reader = new PacketReader(0x80000);
        const body = 'M0,' + 'ab'.repeat(0x20000);
        const framed = framePacket(body);
        const items = [];
        for (let at = 0; at < framed.length; at += 8192) {
          items.push(...reader.push(framed.subarray(at, at + 8192)));
        }
        expect(items).toEqual([{ kind: 'packet', payload: bytes(body) }]);
        expect(grows).toBeGreaterThan(1);
      } finally {
        grow.mockRestore();
      }
    });

    it('checks large packets without WebAssembly too', () => {
      withoutWebAssembly(() => {
        const isolated =
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          require('../../../lib/rsp/packet_reader') as typeof import('../../../lib/rsp/packet_reader');
        const reader = new isolated.PacketReader(0x20000);
        const body = 'M0,' + 'ab'.repeat(0x8000);
        expect(reader.push(framePacket(body))).toEqual([{ kind: 'packet', payload: bytes(body) }]);
        const bad = framePacket(body);
        bad[bad.length - 1] ^= 1;
        expect(reader.push(bad).map((item) => item.kind)).toEqual(['bad-checksum']);
      });
    });

    it('reuses its receive buffer: a later packet does not change an earlier payload', () => {
      const reader = new PacketReader(4096);
      const [first] = reader.push(framePacket('m10,4'));
      reader.push(framePacket('g'));
      expect(first).toEqual({ kind: 'packet', payload: bytes('m10,4') });
    });
  });
});

describe('framePacket', () => {
  it('frames with a two-digit lowercase checksum', () => {
    expect(framePacket('OK').toString()).toBe('$OK#9a');
    expect(framePacket('').toString()).toBe('$#00');
  });

  it('agrees with checksum()', () => {
    const body = bytes('T05thread:01;');
    const framed = framePacket(body).toString();
    expect(framed.slice(-2)).toBe(checksum(body).toString(16).padStart(2, '0'));
  });

  it('leaves runs alone unless asked to encode them', () => {
    expect(framePacket('00000000').toString()).toBe('$00000000#80');
  });

  it('run-length encodes on request, with the checksum over the encoded bytes', () => {
    const framed = framePacket('00000000', { runLength: true }).toString('latin1');
    expect(framed.slice(0, -3)).toBe('$0*"00');
    expect(framed.slice(-2)).toBe(checksum(bytes('0*"00')).toString(16).padStart(2, '0'));
  });

  it('takes Buffers and strings alike, bytes above 0x7f included', () => {
    const body = Buffer.from([0x62, 0xff, 0x80, 0x00]);
    expect(framePacket(body)).toEqual(framePacket(body.toString('latin1')));
  });
});

describe('checksum', () => {
  it('agrees with a byte-by-byte sum at every alignment and length', () => {
    const data = Buffer.alloc(5000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
    for (const start of [0, 1, 2, 3, 5]) {
      for (const end of [start, start + 3, start + 255, start + 256, 1027, 4099, 5000]) {
        let sum = 0;
        for (let i = start; i < end; i++) sum += data[i]!;
        expect(checksum(data, start, end)).toBe(sum & 0xff);
      }
    }
    const ones = Buffer.alloc(70000, 0xff);
    expect(checksum(ones)).toBe((70000 * 0xff) & 0xff);
  });
});

describe('run-length encoding of replies', () => {
  it('encodes small replies and leaves bulk replies plain', () => {
    const small = framePacket('0'.repeat(64), { runLength: true }).toString('latin1');
    expect(small.length).toBeLessThan(20);
    const bulk = '0'.repeat(RUN_LENGTH_MAX_PAYLOAD + 2);
    expect(framePacket(bulk, { runLength: true }).toString('latin1')).toBe(
      framePacket(bulk).toString('latin1'),
    );
  });
});
