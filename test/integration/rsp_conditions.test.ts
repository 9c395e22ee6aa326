import { setTimeout as sleep } from 'node:timers/promises';
import { parseElf } from '../../lib/guest/elf';
import { kernelImage, symbol } from '../support/kernels';
import { useUpKernelStub } from '../support/stub_fixture';

/** A software-breakpoint stop reply for `thread`, with its expedited rbp, rsp and rip. */
function swbreakOn(thread: number): RegExp {
  return new RegExp(`^T05thread:${thread};swbreak:;(?:[0-9a-f]{2}:[0-9a-f]{16};){3}$`);
}

// Breakpoint conditions the stub evaluates, over the emu backend with a raw
// RSP client: what happens around them when nothing stops.

const fixture = useUpKernelStub();

function elfBytes(address: bigint, length: number): Buffer {
  const image = kernelImage('up');
  for (const segment of parseElf(image).loads) {
    if (address >= segment.paddr && address + BigInt(length) <= segment.paddr + segment.filesz) {
      const offset = Number(segment.offset + (address - segment.paddr));
      return image.subarray(offset, offset + length);
    }
  }
  throw new Error(`0x${address.toString(16)} is not in the file`);
}

it('a condition that never holds: the guest runs through hit after hit, Ctrl-C still stops it, z0 restores the byte', async () => {
  const client = await fixture.connect();
  await client.request('?');
  const at = symbol('up', 'add_numbers');
  // const8 0, end: false at every hit.
  expect(await client.request(`Z0,${at.toString(16)},1;X3,220027`)).toBe('OK');
  const before = fixture.counter();
  client.send('c');
  await sleep(300);
  client.interrupt();
  expect(await client.next()).toMatch(/^T02thread:1;/);
  // add_numbers runs once a pass: every pass was a hit the stub went on from.
  expect(fixture.counter() - before).toBeGreaterThan(100n);
  expect(await client.request(`z0,${at.toString(16)},1`)).toBe('OK');
  expect(fixture.guest().vmm.readPhysical(Number(at), 4)).toEqual(elfBytes(at, 4));
});

it('a condition that reads unmapped memory: an O line saying why, then the stop at the breakpoint', async () => {
  const client = await fixture.connect();
  await client.request('?');
  const at = symbol('up', 'add_numbers');
  // const64 0xdead00000000, ref8, end.
  expect(await client.request(`Z0,${at.toString(16)},1;Xb,250000dead000000001727`)).toBe('OK');
  client.send('c');
  const line = await client.next();
  expect(line.startsWith('O')).toBe(true);
  expect(Buffer.from(line.slice(1), 'hex').toString()).toMatch(
    new RegExp(
      `condition 1 at 0x${at.toString(16)} failed on thread 1: cannot read 1 bytes at 0xdead00000000; stopping there`,
    ),
  );
  expect(await client.next()).toMatch(swbreakOn(1));
  expect(await client.request(`z0,${at.toString(16)},1`)).toBe('OK');
  expect(fixture.guest().vmm.readPhysical(Number(at), 4)).toEqual(elfBytes(at, 4));
});
