import { parseExpressionList } from '../../../lib/agent/expression_list';

describe('Z packet condition and command lists', () => {
  it('takes conditions back to back (gdb) or with ; between them (gdbserver takes both)', () => {
    expect(parseExpressionList(';X3,220127X2,2227')).toEqual({
      conditions: [Uint8Array.of(0x22, 0x01, 0x27), Uint8Array.of(0x22, 0x27)],
      commands: [],
      persist: false,
    });
    expect(parseExpressionList(';X3,220127;X2,2227')).toMatchObject({ conditions: [{}, {}] });
  });

  it('takes cmds:persist, after the conditions', () => {
    expect(parseExpressionList(';X3,220127;cmds:1,X1,27X1,27')).toEqual({
      conditions: [Uint8Array.of(0x22, 0x01, 0x27)],
      commands: [Uint8Array.of(0x27), Uint8Array.of(0x27)],
      persist: true,
    });
    expect(parseExpressionList(';cmds:0,X1,27')).toMatchObject({ conditions: [], persist: false });
  });

  it('refuses short or odd hex, a missing length, bad persist flags and trailing junk', () => {
    for (const bad of [
      ';',
      'X1,27',
      ';X2,27',
      ';X1,2',
      ';X1,zz',
      ';Xg,27',
      ';X,27',
      ';X1,27;',
      ';X1,27junk',
      ';cmds:2,X1,27',
      ';cmds:1X1,27',
      ';cmds:1,',
      ';cmds:0,X1,27;cmds:0,X1,27',
      ';X123456789,00',
    ]) {
      expect(typeof parseExpressionList(bad)).toBe('string');
    }
  });
});
