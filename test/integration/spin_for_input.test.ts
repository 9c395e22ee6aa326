import * as net from 'node:net';
import { loadAddon, type NativeAddon } from '../../lib/vmm/addon';

// The addon's poll for the debugger's next request (Vmm.spinForInput): what
// it answers, not how fast (a benchmark's business).

const addon = loadAddon('emu');

function socketPair(): Promise<{ server: net.Server; ours: net.Socket; theirs: net.Socket }> {
  return new Promise((resolve) => {
    const server = net.createServer((ours) => resolve({ server, ours, theirs }));
    let theirs: net.Socket;
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      theirs = net.connect(port, '127.0.0.1');
    });
  });
}

function fdOf(socket: net.Socket): number {
  return (socket as unknown as { _handle: { fd: number } })._handle.fd;
}

describe('spinForInput', () => {
  let pair: Awaited<ReturnType<typeof socketPair>>;
  let spinForInput: NonNullable<NativeAddon['spinForInput']>;
  beforeAll(() => {
    if (addon instanceof Error) throw addon;
    if (addon.spinForInput === undefined) throw new Error('the emu addon has no spinForInput');
    spinForInput = addon.spinForInput;
  });
  beforeEach(async () => {
    pair = await socketPair();
    // Paused: the bytes stay in the kernel for the poll to see.
    pair.ours.pause();
  });
  afterEach(() => {
    pair.ours.destroy();
    pair.theirs.destroy();
    pair.server.close();
  });

  it('is false when nothing arrives within the time', () => {
    expect(spinForInput(fdOf(pair.ours), 300)).toBe(false);
  });

  it('is true once the peer has sent something', async () => {
    await new Promise<void>((resolve) => pair.theirs.write('$g#67', () => resolve()));
    // The bytes may still be on their way through the loopback: poll longer.
    let seen = false;
    for (let i = 0; i < 1000 && !seen; i++) seen = spinForInput(fdOf(pair.ours), 1000);
    expect(seen).toBe(true);
  });

  it('is true at the end of the stream (the peer hung up: a read will say so)', async () => {
    await new Promise<void>((resolve) => pair.theirs.end(() => resolve()));
    let seen = false;
    for (let i = 0; i < 1000 && !seen; i++) seen = spinForInput(fdOf(pair.ours), 1000);
    expect(seen).toBe(true);
  });

  it('is false for a descriptor that is not one, and refuses arguments that are not numbers', () => {
    expect(spinForInput(-1, 100)).toBe(false);
    // The addon's TypeError is of another realm than the test's: matched by its message.
    expect(() => (spinForInput as (...a: unknown[]) => boolean)('3', 100)).toThrow(
      /takes two numbers/,
    );
  });
});

describe('readSocketNow and writeSocketNow', () => {
  let pair: Awaited<ReturnType<typeof socketPair>>;
  let readNow: NonNullable<NativeAddon['readSocketNow']>;
  let writeNow: NonNullable<NativeAddon['writeSocketNow']>;
  beforeAll(() => {
    if (addon instanceof Error) throw addon;
    if (addon.readSocketNow === undefined || addon.writeSocketNow === undefined) {
      throw new Error('the emu addon has no readSocketNow or writeSocketNow');
    }
    readNow = addon.readSocketNow;
    writeNow = addon.writeSocketNow;
  });
  beforeEach(async () => {
    pair = await socketPair();
    pair.ours.pause(); // Node reads nothing: the bytes are ours to take
  });
  afterEach(() => {
    pair.ours.destroy();
    pair.theirs.destroy();
    pair.server.close();
  });

  /** Reads at once until `length` bytes came (the loopback may deliver them late). */
  function readAll(length: number): Buffer {
    const parts: Buffer[] = [];
    let got = 0;
    for (let i = 0; i < 100000 && got < length; i++) {
      const chunk = readNow(fdOf(pair.ours), 65536);
      if (chunk !== null) {
        parts.push(chunk);
        got += chunk.length;
      }
    }
    return Buffer.concat(parts);
  }

  it('reads what the peer sent, in order, and null when nothing is there', async () => {
    expect(readNow(fdOf(pair.ours), 100)).toBeNull();
    await new Promise<void>((resolve) => pair.theirs.write('$qOffsets#4b$g#67', () => resolve()));
    expect(readAll(17).toString()).toBe('$qOffsets#4b$g#67');
    expect(readNow(fdOf(pair.ours), 100)).toBeNull();
  });

  it('takes at most maxBytes at a time', async () => {
    await new Promise<void>((resolve) => pair.theirs.write('0123456789', () => resolve()));
    let first: Buffer | null = null;
    for (let i = 0; i < 100000 && first === null; i++) first = readNow(fdOf(pair.ours), 4);
    expect(first?.toString()).toBe('0123');
    expect(readAll(6).toString()).toBe('456789');
  });

  it('writes to the peer, which reads it as sent', async () => {
    const received = new Promise<string>((resolve) =>
      pair.theirs.once('data', (d) => resolve(d.toString())),
    );
    expect(writeNow(fdOf(pair.ours), Buffer.from('$OK#9a'))).toBe(6);
    await expect(received).resolves.toBe('$OK#9a');
  });

  it('is null and 0 at the end of the stream, on a bad descriptor, and refuses bad arguments', async () => {
    await new Promise<void>((resolve) => pair.theirs.end(() => resolve()));
    for (let i = 0; i < 100; i++) expect(readNow(fdOf(pair.ours), 100)).toBeNull();
    expect(readNow(-1, 100)).toBeNull();
    expect(writeNow(-1, Buffer.from('x'))).toBe(0);
    // The addon's errors are of another realm than the test's: matched by their messages.
    expect(() => readNow(fdOf(pair.ours), 0)).toThrow(/is not 1 to 1 MiB/);
    expect(() => readNow(fdOf(pair.ours), 2 ** 21)).toThrow(/is not 1 to 1 MiB/);
    expect(() => (readNow as (...a: unknown[]) => unknown)('3', 100)).toThrow(/takes two numbers/);
    expect(() => (writeNow as (...a: unknown[]) => unknown)(3, 'x')).toThrow(
      /a number and a Buffer/,
    );
  });
});
