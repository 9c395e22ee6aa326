import { setTimeout as sleep } from 'node:timers/promises';
import { parseElf } from '../../lib/guest/elf';
import { kernelImage, symbol } from '../support/kernels';
import { useUpKernelStub } from '../support/stub_fixture';

// Software breakpoints over the emu backend, driven by a raw RSP client.

const fixture = useUpKernelStub();
const connect = () => fixture.connect();
const counter = () => fixture.counter();

/** The kernel's own bytes at a (physical = virtual) address, from the ELF file. */
function elfBytes(address: bigint, length: number): Buffer {
  const image = kernelImage('up');
  const elf = parseElf(image);
  for (const segment of elf.loads) {
    if (address >= segment.paddr && address + BigInt(length) <= segment.paddr + segment.filesz) {
      const offset = Number(segment.offset + (address - segment.paddr));
      return image.subarray(offset, offset + length);
    }
  }
  throw new Error(`0x${address.toString(16)} is not in the file`);
}

/** rbp, rsp and rip as every T reply expedites them. */
const EXPEDITED = '(?:[0-9a-f]{2}:[0-9a-f]{16};){3}';

/** The rip a T reply expedites (regnum 10). */
function expeditedRip(reply: string): bigint {
  return Buffer.from(/;10:([0-9a-f]{16});/.exec(reply)![1]!, 'hex').readBigUInt64LE();
}

function rip(g: string): bigint {
  return Buffer.from(g.slice(16 * 16, 16 * 16 + 16), 'hex').readBigUInt64LE();
}

it('Z0 at add_numbers: c stops there with swbreak, m hides the 0xCC, c hits it again, z0 restores', async () => {
  const client = await connect();
  await client.request('?');
  const at = symbol('up', 'add_numbers');
  const hex = at.toString(16);
  expect(await client.request(`Z0,${hex},1`)).toBe('OK');
  expect(fixture.guest().vmm.readPhysical(Number(at), 1)[0]).toBe(0xcc);
  const hit = await client.request('c');
  expect(hit).toMatch(new RegExp(`^T05thread:1;swbreak:;${EXPEDITED}$`));
  expect(expeditedRip(hit)).toBe(at);
  expect(rip(await client.request('g'))).toBe(at);
  expect(await client.request(`m${hex},1`)).toBe(elfBytes(at, 1).toString('hex'));
  expect(await client.request('c')).toMatch(new RegExp(`^T05thread:1;swbreak:;${EXPEDITED}$`));
  expect(rip(await client.request('g'))).toBe(at);
  const step = await client.request('s');
  expect(step).toMatch(new RegExp(`^T05thread:1;${EXPEDITED}$`));
  expect(rip(await client.request('g'))).toBe(expeditedRip(step));
  expect(rip(await client.request('g'))).toBeGreaterThan(at);
  expect(await client.request(`z0,${hex},1`)).toBe('OK');
  expect(fixture.guest().vmm.readPhysical(Number(at), 4)).toEqual(elfBytes(at, 4));
});

it("an int3 the guest executes itself is the guest's #BP, not a stop", async () => {
  const client = await connect();
  await client.request('?');
  const at = symbol('up', 'add_numbers');
  // A breakpoint of ours elsewhere turns breakpoint exits on.
  expect(await client.request(`Z0,${symbol('up', 'pattern').toString(16)},1`)).toBe('OK');
  fixture.guest().vmm.writePhysical(Number(at), Buffer.from([0xcc]));
  client.send('c');
  await fixture
    .guest()
    .waitForConsole(new RegExp(`exception 3 error 0x0 rip 0x${(at + 1n).toString(16)}`));
  // The kernel's handler halts with interrupts off after its line: the guest
  // has ended (an O line says why, then the exit reply), and no swbreak.
  expect(Buffer.from((await client.next()).slice(1), 'hex').toString()).toMatch(
    /the guest ended: every vCPU halted with interrupts disabled/,
  );
  expect(await client.next()).toBe('W00');
  // Asked again (the O line again, for a debugger that attaches only now),
  // or told to run on: the same exit reply.
  expect(await client.request('?')).toMatch(/^O/);
  expect(await client.next()).toBe('W00');
  expect(await client.request('vCont;c')).toBe('W00');
});

it('a client killed mid-packet with breakpoints in: original bytes back, the guest runs', async () => {
  const client = await connect();
  await client.request('?');
  const addresses = ['add_numbers', 'copy_bytes'].map((name) => symbol('up', name));
  for (const a of addresses) expect(await client.request(`Z0,${a.toString(16)},1`)).toBe('OK');
  client.socket.write('$m1000,4'); // cut off mid-packet
  client.socket.destroy();
  await sleep(50);
  for (const a of addresses)
    expect(fixture.guest().vmm.readPhysical(Number(a), 4)).toEqual(elfBytes(a, 4));
  const before = counter();
  await sleep(50);
  expect(counter()).toBeGreaterThan(before);
  expect(fixture.guest().vmm.vcpuState(0)).toBe('running');
});

it('D removes every breakpoint and resumes the guest', async () => {
  const client = await connect();
  await client.request('?');
  const at = symbol('up', 'add_numbers');
  await client.request(`Z0,${at.toString(16)},1`);
  expect(await client.request('D')).toBe('OK');
  await sleep(50);
  expect(fixture.guest().vmm.readPhysical(Number(at), 4)).toEqual(elfBytes(at, 4));
  const before = counter();
  await sleep(50);
  expect(counter()).toBeGreaterThan(before);
});

it('k removes every breakpoint before the stub reports the kill', async () => {
  const client = await connect();
  await client.request('?');
  const addresses = ['add_numbers', 'copy_bytes'].map((name) => symbol('up', name));
  for (const a of addresses) expect(await client.request(`Z0,${a.toString(16)},1`)).toBe('OK');
  for (const a of addresses) expect(fixture.guest().vmm.readPhysical(Number(a), 1)[0]).toBe(0xcc);
  const killed = new Promise<void>((resolve) => fixture.stub().once('kill', () => resolve()));
  client.send('k');
  await killed;
  for (const a of addresses)
    expect(fixture.guest().vmm.readPhysical(Number(a), 4)).toEqual(elfBytes(a, 4));
});

it('a connection reset (a socket error on the stub side): original bytes back, the guest runs', async () => {
  const client = await connect();
  await client.request('?');
  const at = symbol('up', 'add_numbers');
  expect(await client.request(`Z0,${at.toString(16)},1`)).toBe('OK');
  const detached = new Promise<void>((resolve) => fixture.stub().once('detach', () => resolve()));
  client.socket.resetAndDestroy(); // RST: ECONNRESET on the stub's socket
  await detached;
  expect(fixture.guest().vmm.readPhysical(Number(at), 4)).toEqual(elfBytes(at, 4));
  const before = counter();
  await sleep(50);
  expect(counter()).toBeGreaterThan(before);
  expect(fixture.guest().vmm.vcpuState(0)).toBe('running');
});
