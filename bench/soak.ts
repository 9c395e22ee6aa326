import { BenchClient } from './client';
import { attach } from './measure';
import { launch, residentBytes, type LaunchOptions, type TargetKind } from './targets';

const MiB = 1024 * 1024;

/** One soak: the stub's RSS before it and after each tenth of it. */
export interface SoakResult {
  what: string;
  count: number;
  /** RSS in MiB: before the first operation, then after each tenth. */
  rssMiB: number[];
  /** RSS growth over the second half, per 1,000 operations, in KiB. */
  kibPerThousand: number;
  seconds: number;
}

export interface SoakCounts {
  breakpointHits: number;
  steps: number;
  sessions: number;
}

export const SOAK_COUNTS: SoakCounts = { breakpointHits: 100000, steps: 100000, sessions: 10000 };
export const QUICK_SOAK_COUNTS: SoakCounts = {
  breakpointHits: 20000,
  steps: 20000,
  sessions: 2000,
};

function expectStop(reply: string, what: string): void {
  if (!/^[TS][0-9a-fA-F]{2}/.test(reply)) throw new Error(`${what} answered ${reply.slice(0, 40)}`);
}

/**
 * Runs `op` `count` times on a stub process and samples its RSS after each
 * tenth. The first half is warm-up (translated code, V8's heap growing to its
 * working size); the growth over the second half is what a leak would show.
 */
async function soak(
  what: string,
  pid: number,
  count: number,
  op: (i: number) => Promise<void>,
): Promise<SoakResult> {
  const rss = () => (residentBytes(pid) ?? NaN) / MiB;
  const started = performance.now();
  const rssMiB = [rss()];
  for (let i = 0; i < count; i++) {
    await op(i);
    if ((i + 1) % Math.ceil(count / 10) === 0 || i + 1 === count) rssMiB.push(rss());
  }
  const half = rssMiB[Math.floor((rssMiB.length - 1) / 2)]!;
  const end = rssMiB[rssMiB.length - 1]!;
  return {
    what,
    count,
    rssMiB,
    kibPerThousand: ((end - half) * 1024 * 1000) / (count / 2),
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * The long-session soak on up.elf: breakpoint hits (continue with a
 * breakpoint planted in a function the guest calls each loop pass), single
 * steps, and connect/detach sessions, each with the stub's RSS.
 */
export async function soakUp(
  kind: TargetKind,
  kernel: string,
  breakpointAddress: bigint,
  counts: SoakCounts,
  options: LaunchOptions,
  say: (line: string) => void,
): Promise<SoakResult[]> {
  const target = await launch(
    kind,
    { kernel, memoryMiB: 512, cpus: 1, cmdline: '', readyLine: 'up ok' },
    options,
  );
  const results: SoakResult[] = [];
  const report = (result: SoakResult) => {
    results.push(result);
    say(
      `${kind.name} soak: ${result.what} x${result.count}: RSS each tenth ` +
        `${result.rssMiB.map((m) => m.toFixed(1)).join(' ')} MiB; second half ` +
        `${result.kibPerThousand.toFixed(1)} KiB per 1,000; ${result.seconds.toFixed(0)} s`,
    );
  };
  try {
    if (!target.ready) throw new Error('up.elf did not print its line');
    const { client, thread } = await attach(target.port);
    await client.startNoAck();
    const at = breakpointAddress.toString(16);
    if ((await client.text(`Z0,${at},1`)) !== 'OK') throw new Error(`Z0,${at},1 refused`);
    report(
      await soak('breakpoint hits (c)', target.pid, counts.breakpointHits, async () => {
        expectStop(await client.text('c'), 'c');
      }),
    );
    await client.text(`z0,${at},1`);
    report(
      await soak('single steps (vCont;s)', target.pid, counts.steps, async () => {
        expectStop(await client.text(`vCont;s:${thread}`), 'vCont;s');
      }),
    );
    await client.request('D').catch(() => undefined);
    await client.close();
    report(
      await soak('sessions (connect, qSupported, ?, D)', target.pid, counts.sessions, async () => {
        const session = await BenchClient.connect(target.port);
        await session.text('qSupported:swbreak+;hwbreak+;xmlRegisters=i386;vContSupported+');
        expectStop(await session.text('?'), '?');
        await session.request('D').catch(() => undefined);
        await session.close();
      }),
    );
  } finally {
    await target.stop();
  }
  return results;
}

/** The soak figures as a markdown table. */
export function soakTable(kindName: string, results: SoakResult[]): string {
  const lines = [
    `| ${kindName}: what | count | RSS start / at half / end (MiB) | second half (KiB per 1,000) |`,
    '|---|---|---|---|',
  ];
  for (const r of results) {
    const at = (i: number) => r.rssMiB[i]!.toFixed(1);
    const half = Math.floor((r.rssMiB.length - 1) / 2);
    lines.push(
      `| ${r.what} | ${r.count} | ${at(0)} / ${at(half)} / ${at(r.rssMiB.length - 1)} | ${r.kibPerThousand.toFixed(1)} |`,
    );
  }
  return lines.join('\n');
}
