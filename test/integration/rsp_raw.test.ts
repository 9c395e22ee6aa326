import { setTimeout as sleep } from 'node:timers/promises';
import { symbol } from '../support/kernels';
import { useUpKernelStub } from '../support/stub_fixture';

// The stub over the emu backend, driven by a raw RSP client.

const fixture = useUpKernelStub();
const connect = () => fixture.connect();
const counter = () => fixture.counter();

it('attach stops the guest and ? reports the stop', async () => {
  const client = await connect();
  expect(await client.request('?')).toMatch(/^T02thread:1;(?:[0-9a-f]{2}:[0-9a-f]{16};){3}$/);
  const frozen = counter();
  await sleep(30);
  expect(counter()).toBe(frozen);
});

it('g reports the vCPU registers and m reads the known pattern', async () => {
  const client = await connect();
  await client.request('?');
  const g = await client.request('g');
  const rip = Buffer.from(g.slice(16 * 16, 16 * 16 + 16), 'hex').readBigUInt64LE();
  expect(rip).toBe(fixture.guest().vmm.getRegisters(0).rip);
  const pattern = symbol('up', 'pattern');
  const hex = await client.request(`m${pattern.toString(16)},10`);
  const expected = Buffer.from(Array.from({ length: 16 }, (_, i) => (i * 7 + 3) & 0xff));
  expect(hex).toBe(expected.toString('hex'));
  expect(await client.request('m0,zz')).toMatch(/^E/);
  expect(await client.request('mffffffffff000000,10')).toMatch(/^E/);
});

it('c runs the guest and Ctrl-C stops it with T02', async () => {
  const client = await connect();
  await client.request('?');
  const before = counter();
  client.send('c');
  await sleep(50);
  expect(counter()).toBeGreaterThan(before);
  client.interrupt();
  expect(await client.next()).toMatch(/^T02thread:1;(?:[0-9a-f]{2}:[0-9a-f]{16};){3}$/);
  const frozen = counter();
  await sleep(30);
  expect(counter()).toBe(frozen);
});

it('refuses a second client while the first session goes on', async () => {
  const first = await connect();
  await first.request('?');
  const second = await connect();
  const notice = await second.next();
  expect(Buffer.from(notice.slice(1), 'hex').toString()).toMatch(/another debugger is attached/);
  await sleep(20);
  expect(second.closed).toBe(true);
  expect(await first.request('qC')).toBe('QC1');
  expect(await first.request('?')).toMatch(/^T02/);
});

it('tells of refused clients once, not once each (a storm of them does not flood the log)', async () => {
  const notices: string[] = [];
  fixture.stub().on('notice', (line) => notices.push(line));
  const first = await connect();
  await first.request('?');
  for (let i = 0; i < 5; i++) {
    const refused = await connect();
    await refused.next();
  }
  expect(notices).toHaveLength(1);
  expect(notices[0]).toMatch(/refused a second debugger connection/);
  expect(await first.request('qC')).toBe('QC1');
});

it('a vCPU that stops for good (triple fault, shutdown) is a SIGSEGV stop that says so; the dead vCPU refuses to run and the guest ends with X0b', async () => {
  const client = await connect();
  await client.request('?');
  // A non-canonical stack and a jump to where no code is: the fault cannot
  // be delivered (#SS, then #DF, on that stack), a triple fault.
  expect(await client.request('P7=0000000000000080')).toBe('OK');
  const stop = await client.request('c100');
  expect(stop).toMatch(/^O/);
  expect(Buffer.from(stop.slice(1), 'hex').toString()).toMatch(
    /vCPU 0 \(thread 1\) stopped for good: /,
  );
  // rbp, rsp and rip ride along, as in every T reply.
  expect(await client.next()).toMatch(/^T0bthread:1;(?:[0-9a-f]{2}:[0-9a-f]{16};){3}$/);
  expect(await client.request('p10')).toMatch(/^[0-9a-f]{16}$/); // registers stay readable
  const info = await client.request(`qRcmd,${Buffer.from('info vcpus').toString('hex')}`);
  expect(Buffer.from(info.slice(1), 'hex').toString()).toMatch(
    /vCPU 0 \(thread 1\): stopped for good/,
  );
  await client.next(); // OK
  expect(await client.request('s')).toMatch(/^O/);
  expect(await client.next()).toBe('E05');
  expect(await client.request('c')).toBe('X0b');
});

it('a client that vanishes mid-packet leaves the guest running', async () => {
  const client = await connect();
  await client.request('?');
  client.socket.write('$m1000,4'); // no '#xx': cut off mid-packet
  client.socket.destroy();
  await sleep(50);
  const before = counter();
  await sleep(50);
  expect(counter()).toBeGreaterThan(before);
  expect(fixture.guest().vmm.vcpuState(0)).toBe('running');
});

it('answers unknown packets with an empty reply and keeps serving', async () => {
  const client = await connect();
  expect(await client.request('vMustReplyEmpty')).toBe('');
  expect(await client.request('qNoSuchThing')).toBe('');
  expect(await client.request('?')).toMatch(/^T02/);
});
