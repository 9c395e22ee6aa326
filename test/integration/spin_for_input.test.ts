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
