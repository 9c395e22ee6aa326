import fc from 'fast-check';
import { binaryPayload, escapeBinary, unescapeBinary } from '../../../lib/rsp/binary';
import { checksum } from '../../../lib/rsp/checksum';
import { payloadBytes } from '../../../lib/rsp/encoded_payload';
import { hexPayload } from '../../../lib/rsp/hex';
import { framePacket } from '../../../lib/rsp/packet_writer';

/** Bytes at an arbitrary offset inside a larger buffer (misaligned views included). */
const placedBytes = fc.tuple(fc.uint8Array({ maxLength: 600 }), fc.nat(7)).map(([data, shift]) => {
  const backing = Buffer.alloc(data.length + shift);
  backing.set(data, shift);
  return backing.subarray(shift);
});

describe('hexPayload', () => {
  it('encodes like toString("hex"), from aligned and misaligned inputs', () => {
    fc.assert(
      fc.property(placedBytes, (data) => {
        expect(payloadBytes(hexPayload(data)).toString('latin1')).toBe(data.toString('hex'));
      }),
    );
  });

  it('frames exactly as the same bytes given as a Buffer, acks in front or not', () => {
    fc.assert(
      fc.property(placedBytes, fc.nat(3), fc.boolean(), (data, lead, runLength) => {
        const plain = Buffer.from(data.toString('hex'), 'latin1');
        expect(framePacket(hexPayload(data), { lead, runLength })).toEqual(
          framePacket(plain, { lead, runLength }),
        );
      }),
    );
  });

  it('sums a 64 KiB reply as the checksum does', () => {
    const data = Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
    const frame = framePacket(hexPayload(data));
    const body = frame.subarray(1, frame.length - 3);
    expect(body.toString('latin1')).toBe(data.toString('hex'));
    expect(frame.subarray(-2).toString('latin1')).toBe(
      checksum(body).toString(16).padStart(2, '0'),
    );
  });
});

describe('binaryPayload', () => {
  it('escapes like escapeBinary when there is room for everything', () => {
    fc.assert(
      fc.property(placedBytes, fc.constantFrom('', 'b'), (data, prefix) => {
        const room = prefix.length + 2 * data.length;
        const expected = Buffer.concat([Buffer.from(prefix, 'latin1'), escapeBinary(data)]);
        expect(payloadBytes(binaryPayload(data, prefix, room))).toEqual(expected);
        expect(framePacket(binaryPayload(data, prefix, room), { runLength: true })).toEqual(
          framePacket(expected, { runLength: true }),
        );
      }),
    );
  });

  it('sends the longest prefix of the data that fits the room, never an escape cut in two', () => {
    fc.assert(
      fc.property(placedBytes, fc.nat(1300), (data, room) => {
        const sent = payloadBytes(binaryPayload(data, 'b', room + 1));
        expect(sent.length).toBeLessThanOrEqual(room + 1);
        expect(sent[0]).toBe(0x62);
        const decoded = unescapeBinary(sent.subarray(1))!;
        expect(decoded).toEqual(Buffer.from(data.subarray(0, decoded.length)));
        if (decoded.length < data.length) {
          // The next byte, escaped, would not have fitted.
          const next = escapeBinary(data.subarray(decoded.length, decoded.length + 1));
          expect(sent.length + next.length).toBeGreaterThan(room + 1);
        }
      }),
    );
  });
});
