import { escapeBinary, unescapeBinary } from '../lib/rsp/binary';
import { BenchClient } from './client';
import { hexDecodeInto } from './hex_decoder';
import { sleep, summarise, timeLoop, type Budget, type Latency } from './stats';

/** What the client learnt while attaching, and how long attaching took. */
export interface Attached {
  client: BenchClient;
  packetSize: number;
  features: string[];
  /** Thread id of the stopped vCPU, as the stub spells it (`1`, `01`). */
  thread: string;
  /** Connect + qSupported .. first g reply, in microseconds. */
  attachUs: number;
}

const CLIENT_FEATURES =
  'qSupported:swbreak+;hwbreak+;xmlRegisters=i386;vContSupported+;binary-upload+';

function isStopReply(reply: string): boolean {
  return /^[TS][0-9a-fA-F]{2}/.test(reply);
}

/**
 * gdb's own opening, shortened: qSupported, `?`, the target description
 * (QEMU answers `p` only once gdb has read it), `g`. A stop reply QEMU sends
 * by itself on connect is skipped.
 */
export async function attach(port: number): Promise<Attached> {
  const t0 = performance.now();
  const client = await BenchClient.connect(port);
  let supported = await client.text(CLIENT_FEATURES);
  while (isStopReply(supported)) supported = (await client.next()).toString('latin1');
  const features = supported.split(';');
  const size = features.find((f) => f.startsWith('PacketSize='));
  const packetSize = size === undefined ? 400 : parseInt(size.slice('PacketSize='.length), 16);
  const stop = await client.text('?');
  if (!isStopReply(stop)) throw new Error(`? answered ${stop}`);
  const thread = /thread:(?:p[0-9a-f]+\.)?([0-9a-fA-F]+);/.exec(stop)?.[1] ?? '1';
  if (features.includes('qXfer:features:read+')) {
    let offset = 0;
    for (;;) {
      const part = await client.request(
        `qXfer:features:read:target.xml:${offset.toString(16)},${(packetSize - 16).toString(16)}`,
      );
      if (part.length === 0 || part[0] === 0x45 /* E */) break;
      offset += part.length - 1;
      if (part[0] === 0x6c /* l */) break;
    }
  }
  const regs = await client.text('g');
  if (!/^[0-9a-fA-Fx]+$/.test(regs)) throw new Error(`g answered ${regs.slice(0, 40)}`);
  const attachUs = (performance.now() - t0) * 1000;
  client.discardEarly();
  return { client, packetSize, features, thread, attachUs };
}

/** Attaches, then detaches with D (the guest runs on); the attach times. */
export async function attachSamples(port: number, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const attached = await attach(port);
    samples.push(attached.attachUs);
    await attached.client.request('D').catch(() => undefined);
    await attached.client.close();
    await sleep(50);
  }
  return samples;
}

export async function roundTrip(client: BenchClient, packet: string, budget: Budget) {
  let last = '';
  const samples = await timeLoop(async () => {
    last = (await client.request(packet)).toString('latin1');
  }, budget);
  if (last === '' || last.startsWith('E')) return undefined; // not supported
  return summarise(samples);
}

/** The 16 MiB test pattern: every byte value (the four escaped ones too), no runs. */
export function testPattern(length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + 3 + (i >>> 12) * 13) & 0xff;
  return out;
}

/** Writes `data` at `address` with X (when it answers) or M; bytes per second. */
export async function writeMemory(
  client: BenchClient,
  packetSize: number,
  address: number,
  data: Buffer,
): Promise<{ packet: 'X' | 'M'; bytesPerSecond: number }> {
  const probe = await client.text(`X${address.toString(16)},0:`);
  const binary = probe === 'OK';
  // Room for `X<addr>,<len>:` and the framing; escaping may double each byte.
  const chunk = Math.floor((packetSize - 40) / 2);
  const start = performance.now();
  for (let done = 0; done < data.length; done += chunk) {
    const part = data.subarray(done, Math.min(data.length, done + chunk));
    const head = `${binary ? 'X' : 'M'}${(address + done).toString(16)},${part.length.toString(16)}:`;
    const body = binary ? escapeBinary(part) : Buffer.from(part.toString('hex'), 'latin1');
    const frame = Buffer.concat([Buffer.from(head, 'latin1'), body]);
    const reply = (await client.request(frame)).toString('latin1');
    if (reply !== 'OK') throw new Error(`${head} answered ${reply}`);
  }
  const seconds = (performance.now() - start) / 1000;
  return { packet: binary ? 'X' : 'M', bytesPerSecond: data.length / seconds };
}

export interface ReadResult {
  bytesPerSecond: number;
  /** Bytes per request, as PacketSize allowed. */
  chunk: number;
  verified: boolean;
  /**
   * CPU time this process (the client) spent on the read, in ms. With one
   * request in flight the client's work and the stub's never overlap, so the
   * read can go no faster than length / clientCpuMs, whatever the stub does.
   */
  clientCpuMs: number;
}

/**
 * Reads `expected.length` bytes at `address` with m or x, as large as
 * PacketSize allows, one request in flight; checks every byte afterwards.
 * Undefined when the stub does not answer the packet.
 */
export async function readMemory(
  client: BenchClient,
  packetSize: number,
  packet: 'm' | 'x',
  address: number,
  expected: Buffer,
): Promise<ReadResult | undefined> {
  // m: two hex digits a byte, 4 bytes of framing. x: as many bytes as the
  // packet holds unescaped; a stub may answer with fewer (those that fit
  // once escaped) and the next request asks for the rest, as gdb does.
  const chunk = packet === 'm' ? Math.floor((packetSize - 4) / 2) : packetSize - 5;
  const got = Buffer.alloc(expected.length);
  let filled = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  while (filled < expected.length) {
    const length = Math.min(chunk, expected.length - filled);
    const reply = await client.request(
      `${packet}${(address + filled).toString(16)},${length.toString(16)}`,
    );
    let taken: number;
    if (packet === 'm') {
      if (reply.length === 0 || reply[0] === 0x45) return undefined;
      taken = Math.min(reply.length >> 1, length, got.length - filled);
      hexDecodeInto(reply.subarray(0, 2 * taken), got, filled);
    } else {
      if (reply.length === 0 || (reply[0] === 0x45 && reply.length === 3)) return undefined;
      const data = unescapeBinary(reply[0] === 0x62 /* b */ ? reply.subarray(1) : reply)!;
      taken = Math.min(data.length, length, got.length - filled);
      data.copy(got, filled, 0, taken);
    }
    if (taken === 0) throw new Error(`${packet} returned no data at ${filled}`);
    filled += taken;
  }
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    bytesPerSecond: expected.length / seconds,
    chunk,
    verified: got.equals(expected),
    clientCpuMs: (used.user + used.system) / 1000,
  };
}

function expectStop(reply: string, what: string): void {
  if (!isStopReply(reply)) throw new Error(`${what} answered ${reply.slice(0, 40)}`);
}

/** Single steps of the stopped thread; latency per step. */
export async function steps(client: BenchClient, thread: string, budget: Budget): Promise<Latency> {
  const packet = `vCont;s:${thread}`;
  const samples = await timeLoop(async () => {
    expectStop(await client.text(packet), packet);
  }, budget);
  return summarise(samples);
}

export async function readU64(client: BenchClient, address: bigint): Promise<bigint> {
  const hex = await client.text(`m${address.toString(16)},8`);
  return Buffer.from(hex, 'hex').readBigUInt64LE(0);
}

export async function rip(client: BenchClient): Promise<bigint> {
  const hex = await client.text('p10');
  if (hex.length !== 16) throw new Error(`p10 answered ${hex}`);
  return Buffer.from(hex, 'hex').readBigUInt64LE(0);
}

export interface CycleResult {
  latency: Latency;
  /** Guest loop passes (its `counter`) per cycle: about 1 when every cycle is a new hit. */
  progress: number;
}

/**
 * Breakpoint cycles at `address` (a function the guest calls once per loop pass).
 * gdb: z0, step, Z0, continue (gdb lifts the breakpoint it stands on and
 * steps off it itself); plain: continue with the breakpoint in place (the
 * stub steps over it).
 */
export async function breakpointCycles(
  client: BenchClient,
  thread: string,
  address: bigint,
  counter: bigint,
  style: 'gdb' | 'plain',
  budget: Budget,
): Promise<CycleResult | undefined> {
  const at = address.toString(16);
  const insert = `Z0,${at},1`;
  const remove = `z0,${at},1`;
  if ((await client.text(insert)) !== 'OK') throw new Error(`${insert} refused`);
  let first: string;
  try {
    first = await client.text('vCont;c', 10000);
  } catch {
    // Never hit (QEMU on PVM's KVM): stop the guest and leave memory as it was.
    client.interrupt();
    await client.next();
    await client.request(remove);
    return undefined;
  }
  expectStop(first, 'vCont;c');
  if ((await rip(client)) !== address) throw new Error('the breakpoint stop is not at its address');
  const before = await readU64(client, counter);
  const samples = await timeLoop(
    async () => {
      if (style === 'gdb') {
        await client.request(remove);
        expectStop(await client.text(`vCont;s:${thread}`), 'vCont;s');
        await client.request(insert);
      }
      expectStop(await client.text('vCont;c'), 'vCont;c');
    },
    budget,
    5,
  );
  const after = await readU64(client, counter);
  const stoppedAt = await rip(client);
  await client.request(remove);
  if (stoppedAt !== address) throw new Error('the last breakpoint stop is not at its address');
  return {
    latency: summarise(samples),
    progress: Number(after - before) / (samples.length + 5),
  };
}

/** Continue, let the guest run `runMs`, Ctrl-C: microseconds from 0x03 to the stop reply. */
export async function interruptLatency(
  client: BenchClient,
  runMs: number,
  count: number,
): Promise<Latency> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    client.send('vCont;c');
    await sleep(runMs);
    const t0 = performance.now();
    client.interrupt();
    const reply = (await client.next()).toString('latin1');
    samples.push((performance.now() - t0) * 1000);
    expectStop(reply, 'Ctrl-C');
  }
  return summarise(samples);
}

/** qfThreadInfo, then qsThreadInfo until `l`: the thread ids and the time per full list. */
export async function threadList(client: BenchClient, budget: Budget) {
  let threads: string[] = [];
  const samples = await timeLoop(async () => {
    const ids: string[] = [];
    let reply = await client.text('qfThreadInfo');
    while (reply.startsWith('m')) {
      ids.push(...reply.slice(1).split(','));
      reply = await client.text('qsThreadInfo');
    }
    threads = ids;
  }, budget);
  return { latency: summarise(samples), threads };
}

/** Hg<thread> + g, over every thread in turn: latency per pair. */
export async function registerRoundRobin(
  client: BenchClient,
  threads: string[],
  budget: Budget,
): Promise<Latency> {
  let i = 0;
  const samples = await timeLoop(async () => {
    const thread = threads[i++ % threads.length]!;
    if ((await client.text(`Hg${thread}`)) !== 'OK') throw new Error(`Hg${thread} refused`);
    const regs = await client.text('g');
    if (regs.length < 100) throw new Error(`g answered ${regs.slice(0, 40)}`);
  }, budget);
  await client.request(`Hg${threads[0]}`);
  return summarise(samples);
}
