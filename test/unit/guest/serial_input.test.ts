import { EventEmitter } from 'node:events';
import { attachSerialInput, EscapeDecoder } from '../../../lib/guest/serial_input';

function decode(chunks: string[]): { data: string; quit: boolean } {
  let data = '';
  let quit = false;
  const decoder = new EscapeDecoder({
    data: (bytes) => (data += bytes.toString('latin1')),
    quit: () => (quit = true),
  });
  for (const chunk of chunks) decoder.push(Buffer.from(chunk, 'latin1'));
  return { data, quit };
}

describe('EscapeDecoder (Ctrl-A as the escape key, as in QEMU)', () => {
  it('passes ordinary keys through, Ctrl-C included', () => {
    expect(decode(['ls -l\r', '\x03'])).toEqual({ data: 'ls -l\r\x03', quit: false });
  });

  it('quits on Ctrl-A x, after sending what came before it', () => {
    expect(decode(['abc\x01x', 'ignored'])).toEqual({ data: 'abc', quit: true });
    expect(decode(['\x01X'])).toEqual({ data: '', quit: true });
  });

  it('sends one Ctrl-A for Ctrl-A Ctrl-A, and drops an unknown command', () => {
    expect(decode(['a\x01\x01b\x01zc'])).toEqual({ data: 'a\x01bc', quit: false });
  });

  it('keeps an escape at the end of one chunk for the next', () => {
    expect(decode(['a\x01', 'x'])).toEqual({ data: 'a', quit: true });
    expect(decode(['a\x01', '\x01'])).toEqual({ data: 'a\x01', quit: false });
  });
});

class FakeInput extends EventEmitter {
  rawModes: boolean[] = [];
  paused = true;
  constructor(readonly isTTY: boolean) {
    super();
  }
  setRawMode(mode: boolean) {
    this.rawModes.push(mode);
  }
  pause() {
    this.paused = true;
  }
  resume() {
    this.paused = false;
  }
}

describe('attachSerialInput', () => {
  it('on a terminal: raw mode while attached, escape decoding, and restored on detach', () => {
    const input = new FakeInput(true);
    const got: string[] = [];
    let quits = 0;
    const detach = attachSerialInput(input, {
      data: (b) => got.push(b.toString()),
      quit: () => quits++,
    });
    expect(input.rawModes).toEqual([true]);
    expect(input.paused).toBe(false);
    input.emit('data', Buffer.from('hi\x01x'));
    expect(got).toEqual(['hi']);
    expect(quits).toBe(1);
    detach();
    expect(input.rawModes).toEqual([true, false]);
    expect(input.paused).toBe(true);
    input.emit('data', Buffer.from('late'));
    expect(got).toEqual(['hi']);
  });

  it('from a pipe: bytes go through unchanged (Ctrl-A too), no raw mode', () => {
    const input = new FakeInput(false);
    const got: string[] = [];
    const detach = attachSerialInput(input, {
      data: (b) => got.push(b.toString()),
      quit: () => {},
    });
    input.emit('data', Buffer.from('a\x01x'));
    expect(got).toEqual(['a\x01x']);
    expect(input.rawModes).toEqual([]);
    detach();
  });
});
