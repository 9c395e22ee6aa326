import fc from 'fast-check';
import { escapeBinary, unescapeBinary } from '../../../lib/rsp/binary';
import { checksum } from '../../../lib/rsp/checksum';
import { framePacket } from '../../../lib/rsp/packet_writer';
import { runLengthEncodeInPlace } from '../../../lib/rsp/run_length';

const bytes = (text: string) => Buffer.from(text, 'latin1');

function encode(data: string | Buffer): Buffer {
  const buffer = Buffer.from(typeof data === 'string' ? bytes(data) : data);
  return buffer.subarray(0, runLengthEncodeInPlace(buffer, 0, buffer.length));
}

/** gdb's way: expand runs of the raw byte before `*`; unescaping comes later. */
function gdbDecode(data: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x2a) {
      const repeats = data[++i]! - 29;
      for (let r = 0; r < repeats; r++) out.push(out[out.length - 1]!);
    } else {
      out.push(data[i]!);
    }
  }
  return Buffer.from(out);
}

/** lldb's way: unescape and expand in one pass, repeating the last decoded byte. */
function lldbDecode(data: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x2a) {
      const repeats = data[++i]! - 29;
      for (let r = 0; r < repeats; r++) out.push(out[out.length - 1]!);
    } else if (data[i] === 0x7d) {
      out.push(data[++i]! ^ 0x20);
    } else {
      out.push(data[i]!);
    }
  }
  return Buffer.from(out);
}

describe('run-length encoding', () => {
  it.each([
    ['abc', 'abc'],
    ['000', '000'],
    ['0000', '0* '],
    ['00000', '0*!'],
    ['000000', '0*"'],
    // 7 and 8 would need the counts '#' and '$': 6 encoded, the rest as is.
    ['0000000', '0*"0'],
    ['00000000', '0*"00'],
    ['000000000', '0*%'],
    ['x' + '0'.repeat(98) + 'y', 'x0*~y'],
    ['0'.repeat(99), '0*~0'],
    ['0'.repeat(102), '0*~0* '],
  ])('encodes %j as %j', (text, encoded) => {
    expect(encode(text).toString('latin1')).toBe(encoded);
  });

  it('never produces # or $ as a count, for any run length', () => {
    for (let run = 1; run <= 300; run++) {
      const encoded = encode('f'.repeat(run));
      expect(encoded.includes(0x23)).toBe(false);
      expect(encoded.includes(0x24)).toBe(false);
      expect(gdbDecode(encoded).toString('latin1')).toBe('f'.repeat(run));
    }
  });

  it('copies escape pairs whole and never starts a run on an escaped byte', () => {
    // `}]` is an escaped 0x7d; the `]`s after it are plain 0x5d.
    expect(encode('}]]]]]').toString('latin1')).toBe('}]]* ');
    expect(encode('}]}]}]}]').toString('latin1')).toBe('}]}]}]}]');
    expect(encode('}\x03\x03\x03\x03\x03').toString('latin1')).toBe('}\x03\x03* ');
  });

  it('does not treat a stray * as a run', () => {
    expect(encode('****').toString('latin1')).toBe('****');
  });

  it('round-trips any escaped binary data through both gdb and lldb decoders', () => {
    fc.assert(
      fc.property(
        // Few distinct bytes, so that runs and escapes are frequent.
        fc.array(fc.constantFrom(0x00, 0x03, 0x23, 0x24, 0x2a, 0x5d, 0x7d, 0x30, 0xff), {
          maxLength: 400,
        }),
        (values) => {
          const data = Buffer.from(values);
          const encoded = encode(escapeBinary(data));
          expect(unescapeBinary(gdbDecode(encoded))).toEqual(data);
          expect(lldbDecode(encoded)).toEqual(data);
          expect(encoded.includes(0x23) || encoded.includes(0x24)).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('round-trips any hex text and never lengthens it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (data) => {
        const hex = Buffer.from(data)
          .toString('hex')
          .replace(/[1-9a-e]/g, '0');
        const encoded = encode(hex);
        expect(encoded.length).toBeLessThanOrEqual(hex.length);
        expect(gdbDecode(encoded).toString('latin1')).toBe(hex);
      }),
    );
  });

  it('frames an encoded reply whose checksum covers the bytes as sent', () => {
    const reply = '0'.repeat(32) + 'ff';
    const framed = framePacket(reply, { runLength: true });
    const body = framed.subarray(1, framed.length - 3);
    // 32 zeros: one and 31 repeats, sent as 31 + 29 = '<'.
    expect(body.toString('latin1')).toBe('0*<ff');
    expect(framed.subarray(-2).toString('latin1')).toBe(
      checksum(body).toString(16).padStart(2, '0'),
    );
    expect(gdbDecode(body).toString('latin1')).toBe(reply);
  });
});
