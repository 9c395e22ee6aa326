import { checksum } from '../../../lib/rsp/checksum';
import { PacketReader } from '../../../lib/rsp/packet_reader';
import { framePacket } from '../../../lib/rsp/packet_writer';

const bytes = (text: string) => Buffer.from(text, 'latin1');

describe('PacketReader', () => {
  it('returns a packet whose checksum matches', () => {
    const reader = new PacketReader(4096);
    expect(reader.push(bytes('$g#67'))).toEqual([{ kind: 'packet', payload: bytes('g') }]);
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

  it('reports acks, nacks and Ctrl-C between packets', () => {
    const reader = new PacketReader(4096);
    expect(reader.push(bytes('+-\x03')).map((i) => i.kind)).toEqual(['ack', 'nack', 'interrupt']);
  });

  it('skips junk between packets and resyncs on a new $', () => {
    const reader = new PacketReader(4096);
    const items = reader.push(bytes('garbage$trunc$?#3f'));
    expect(items).toEqual([{ kind: 'packet', payload: bytes('?') }]);
  });

  it('drops a packet over the size limit whole and says how long it was', () => {
    const reader = new PacketReader(8);
    const items = reader.push(bytes('$0123456789#00$?#3f'));
    expect(items).toEqual([
      { kind: 'oversized', length: 10 },
      { kind: 'packet', payload: bytes('?') },
    ]);
  });

  it('grows its buffer up to the limit for large packets', () => {
    const reader = new PacketReader(0x20000);
    const body = 'M0,' + 'ab'.repeat(0x8000);
    const items = reader.push(framePacket(body));
    expect(items).toEqual([{ kind: 'packet', payload: bytes(body) }]);
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
});
