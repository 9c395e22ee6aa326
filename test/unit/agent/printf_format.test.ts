import { formatPieces, parseFormat, type FormatPiece } from '../../../lib/agent/printf_format';

function format(text: string, args: bigint[], strings: Record<string, string> = {}): string {
  const pieces = parseFormat(text);
  if (typeof pieces === 'string') throw new Error(pieces);
  return formatPieces(pieces as FormatPiece[], args, (address) => {
    const found = strings[address.toString(16)];
    if (found === undefined) throw new Error('unreadable');
    return found;
  });
}

describe('agent printf formats', () => {
  it('C escapes as gdb takes them (the format arrives as typed in the dprintf command)', () => {
    expect(format('a\\tb\\n\\\\\\"', [])).toBe('a\tb\n\\"');
    expect(parseFormat('\\x41')).toMatch(/unknown escape/);
  });

  it('int arguments are 32-bit, l/ll/z 64-bit, h and hh 16 and 8 bits, as C reads them', () => {
    expect(format('%d %u %x', [0xffffffffn, 0x1ffffffffn, 0x123456789n])).toBe(
      '-1 4294967295 23456789',
    );
    expect(format('%ld %lu %llx %zu', [(1n << 64n) - 1n, (1n << 64n) - 1n, 1n << 40n, 5n])).toBe(
      '-1 18446744073709551615 10000000000 5',
    );
    expect(format('%hd %hhu %hx', [0x18000n, 0x1ffn, 0xabcdefn])).toBe('-32768 255 cdef');
  });

  it('flags, width and precision as C printf', () => {
    expect(format('[%5d][%-5d][%05d][%+d][% d]', [42n, 42n, 42n, 42n, 42n])).toBe(
      '[   42][42   ][00042][+42][ 42]',
    );
    expect(format('[%.3d][%8.3x][%#x][%#X][%#o][%.0d]', [7n, 0xan, 255n, 255n, 8n, 0n])).toBe(
      '[007][     00a][0xff][0XFF][010][]',
    );
    expect(
      format('[%-3c][%5s][%.2s][%p][%p]%%', [0x41n, 0x10n, 0x10n, 0x1000n, 0n], { '10': 'abc' }),
    ).toBe('[A  ][  abc][ab][0x1000][(nil)]%');
  });

  it('refuses what the agent cannot print: floating point, unknown conversions, huge widths, lone %', () => {
    expect(parseFormat('%f')).toMatch(/floating point/);
    expect(parseFormat('%Lg')).toMatch(/floating point/);
    expect(parseFormat('%n')).toMatch(/unknown conversion/);
    expect(parseFormat('%99999d')).toMatch(/width or precision/);
    expect(parseFormat('100%')).toMatch(/malformed directive/);
    expect(parseFormat('%ls')).toMatch(/length modifier/);
  });
});
