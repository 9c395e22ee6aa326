import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Debugger } from '../../lib/debugger/debugger';
import { DEFAULT_PACKET_SIZE, GdbStub, type GdbStubOptions } from '../../lib/gdb_stub';
import { escapeBinary } from '../../lib/rsp/binary';
import { framePacket } from '../../lib/rsp/packet_writer';
import { MockVmm } from '../../lib/vmm/mock_vmm';
import { RspClient } from '../support/rsp_client';

// The wire layer end to end: a GdbStub over MockVmm, driven byte by byte.

let vmm: MockVmm;
let stub: GdbStub;
const clients: RspClient[] = [];
let tmp: string | undefined;

async function start(options: Partial<GdbStubOptions> = {}): Promise<RspClient> {
  vmm = new MockVmm({ memoryBytes: 1 << 20 });
  stub = new GdbStub(new Debugger(vmm), {
    listen: { host: '127.0.0.1', port: 0 },
    ...options,
  });
  const address = await stub.listen();
  const client = await RspClient.connect(
    address.startsWith('unix:')
      ? { path: address.slice(5) }
      : { host: '127.0.0.1', port: Number(address.split(':').pop()) },
  );
  clients.push(client);
  // Attaching stops the guest; `?` waits for that stop.
  expect(await client.request('?')).toMatch(/^T02/);
  return client;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await stub.close();
  vmm.destroy();
  if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
});

it('retransmits the very same bytes when the debugger answers -', async () => {
  const client = await start();
  client.noAck = true; // this test acks by hand
  const before = client.received().length;
  expect(await client.request('qC')).toBe('QC1');
  // The stub's `+` for our packet, then its reply.
  const sent = client.received().subarray(before);
  expect(sent[0]).toBe(0x2b);
  const reply = Buffer.from(sent.subarray(1));
  expect(reply).toEqual(framePacket('QC1'));
  client.sendRaw('-');
  await client.waitForBytes((all) => all.length >= before + sent.length + reply.length);
  expect(client.received().subarray(before + sent.length)).toEqual(reply);
  client.sendRaw('+');
  client.noAck = false;
  expect(await client.request('qC')).toBe('QC1');
});

it('answers a bad checksum with - and then the retransmitted packet', async () => {
  const client = await start();
  const nacks = client.nacks;
  client.sendRaw('$qC#00');
  await client.waitForBytes(() => client.nacks > nacks);
  expect(await client.request('qC')).toBe('QC1');
});

it('stops acking after the OK to QStartNoAckMode, and ignores the + for it', async () => {
  const client = await start();
  expect(await client.request('QStartNoAckMode')).toBe('OK');
  client.noAck = true;
  const acks = client.acks;
  const mark = client.received().length;
  // gdb acks the OK itself; from then on no side acks.
  client.sendRaw('+');
  expect(await client.request('qC')).toBe('QC1');
  expect(await client.request('?')).toMatch(/^T02/);
  // A corrupt packet gets no `-` now: nothing comes back until a good one.
  client.sendRaw('$qC#00');
  expect(await client.request('qAttached')).toBe('1');
  expect(client.acks).toBe(acks);
  const after = client.received().subarray(mark).toString('latin1');
  // Only packets came back (QC1, T02thread:1;, 1): not one `+` or `-`.
  expect(after).not.toMatch(/[+-]/);
  expect(after.startsWith('$')).toBe(true);
});

it('takes Ctrl-C in the middle of a packet: the packet is dropped and the guest stops', async () => {
  const client = await start();
  client.send('c');
  for (let i = 0; i < 200 && vmm.vcpuState(0) !== 'running'; i++) await sleep(10);
  expect(vmm.vcpuState(0)).toBe('running');
  client.sendRaw('junk$m0,\x03');
  expect(await client.next()).toMatch(/^T02/);
  expect(vmm.vcpuState(0)).toBe('parked');
  // The rest of the cut packet is junk; the next packet reads normally.
  client.sendRaw('4#00');
  expect(await client.request('m0,4')).toBe('00000000');
});

it('creates a Unix socket with mode 0600 and serves it', async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rsp-framing-'));
  const socketPath = path.join(tmp, 'gdb.sock');
  const mask = process.umask();
  const client = await start({ listen: { path: socketPath } });
  expect(fs.statSync(socketPath).isSocket()).toBe(true);
  expect(fs.statSync(socketPath).mode & 0o777).toBe(0o600);
  expect(process.umask()).toBe(mask);
  expect(await client.request('qC')).toBe('QC1');
});

it('accepts an X packet of exactly the advertised PacketSize, and drops a longer one', async () => {
  const client = await start();
  const size = DEFAULT_PACKET_SIZE;
  expect(await client.request('qSupported:multiprocess+')).toMatch(
    new RegExp(`PacketSize=${size.toString(16)}`),
  );
  // Bytes that need escaping, so the packet's length is not the data's; then
  // plain bytes up to exactly PacketSize with the header `X1000,<length>:`.
  const data = Buffer.alloc(0xf000);
  for (let i = 0; i < data.length; i++) data[i] = i % 3 === 0 ? 0x23 : i & 0xff;
  const escaped = escapeBinary(data);
  // The header's length depends on the digits of the data's length, which
  // depends on the header's: take the digit count that agrees with itself.
  const totalFor = (digits: number) =>
    size - ('X1000,:'.length + digits) - escaped.length + data.length;
  const digits = [1, 2, 3, 4, 5, 6, 7, 8].find((d) => totalFor(d).toString(16).length === d)!;
  const headLength = 'X1000,:'.length + digits;
  const extra = Buffer.alloc(size - headLength - escaped.length, 0x41);
  const total = data.length + extra.length;
  const head = Buffer.from(`X1000,${total.toString(16)}:`, 'latin1');
  expect(head.length).toBe(headLength);
  const packet = Buffer.concat([head, escaped, extra]);
  expect(packet.length).toBe(size);
  client.sendRaw(framePacket(packet));
  expect(await client.next()).toBe('OK');
  expect(vmm.ram.subarray(0x1000, 0x1000 + data.length)).toEqual(data);
  expect(vmm.ram.subarray(0x1000 + data.length, 0x1000 + total)).toEqual(extra);

  client.sendRaw(framePacket(Buffer.concat([packet, Buffer.from('A')])));
  expect(await client.next()).toBe('E01');
  expect(await client.request('qC')).toBe('QC1');
});

it('run-length encodes replies on the wire, and the client decodes them', async () => {
  // 128 zeros: 98 ('0' and 97 repeats, '~') and 30 ('0' and 29 repeats, ':').
  const client = await start();
  const mark = client.received().length;
  expect(await client.request('m0,40')).toBe('00'.repeat(0x40));
  expect(client.received().subarray(mark).toString('latin1')).toBe(
    '+' + framePacket('0*~0*:').toString('latin1'),
  );
});

it('sends replies as they are with run-length encoding off', async () => {
  const client = await start({ runLengthEncoding: false });
  const mark = client.received().length;
  expect(await client.request('m0,10')).toBe('00'.repeat(0x10));
  expect(client.received().subarray(mark).toString('latin1')).toBe(
    '+' + framePacket('00'.repeat(0x10)).toString('latin1'),
  );
});

it('traces every packet in and out through traceRsp', async () => {
  const lines: string[] = [];
  const client = await start({ traceRsp: (line) => lines.push(line) });
  await client.request('qC');
  expect(lines).toEqual(expect.arrayContaining(['<- ?', '-> +', '<- qC', '-> QC1', '<- +']));
  expect(lines.indexOf('<- qC')).toBeLessThan(lines.indexOf('-> QC1'));
});
