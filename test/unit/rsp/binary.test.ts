import fc from 'fast-check';
import { escapeBinary, unescapeBinary } from '../../../lib/rsp/binary';

describe('binary escaping', () => {
  it('escapes $, #, } and * as } and the byte XOR 0x20', () => {
    expect([...escapeBinary(Buffer.from('a$b#c}d*e', 'latin1'))]).toEqual([
      ...Buffer.from('a}\x04b}\x03c}]d}\x0ae', 'latin1'),
    ]);
  });

  it('leaves every other byte alone, 0x03 and high bytes included', () => {
    const data = Buffer.from([0x00, 0x03, 0x2b, 0x2d, 0x7f, 0x80, 0xff]);
    expect(escapeBinary(data)).toEqual(data);
  });

  it('refuses data that ends inside an escape', () => {
    expect(unescapeBinary(Buffer.from('ab}', 'latin1'))).toBeUndefined();
  });

  it('round-trips any bytes, and the escaped form holds no bare $, # or *', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (data) => {
        const escaped = escapeBinary(data);
        expect(unescapeBinary(escaped)).toEqual(Buffer.from(data));
        expect(escaped.includes(0x24) || escaped.includes(0x23) || escaped.includes(0x2a)).toBe(
          false,
        );
      }),
    );
  });

  it('round-trips bulk data (the WebAssembly path, from 4 KiB on) and refuses it cut', () => {
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7 + 3) & 0xff));
    const escaped = escapeBinary(data);
    expect(unescapeBinary(escaped)).toEqual(data);
    expect(unescapeBinary(escaped.subarray(0, escaped.lastIndexOf(0x7d) + 1))).toBeUndefined();
  });
});
