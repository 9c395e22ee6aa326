import { execFileSync, spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fmt } from './report';
import { median } from './stats';

// Debian's stock bzImage and the busybox initramfs (scripts/fetch-linux.js)
// booted to /init's first line on emu and under QEMU TCG, alternating, with
// 1 and 2 vCPUs: issue 14's targets (2 vCPUs no slower than QEMU; 10 boots
// of 10 reach /init). Each boot is placed by the scheduler on every CPU,
// whatever the rest of the bench is pinned to: a user's boot is not pinned,
// and QEMU's MTTCG and the fake vmm's run slots both use every CPU they get.

/** The line a boot is timed to (the kernel's, before /init runs). */
const INIT_LINE = 'Run /init as init process';
const BOOT_TIMEOUT_MS = 90000;
const CPU_COUNTS = [1, 2];

export interface LinuxBootOptions {
  root: string;
  stubRoot: string;
  /** QEMU to compare with; undefined: emu only. */
  qemuBinary: string | undefined;
  /** Boots per target and vCPU count. */
  boots: number;
  say: (line: string) => void;
}

interface LinuxImages {
  version: string;
  kernel: string;
  initramfs: string;
}

interface Series {
  seconds: number[];
  reached: number;
  boots: number;
}

/** Seconds from spawn to INIT_LINE on the guest's console, or undefined (timed out, or ended first). */
function bootOnce(command: string, args: string[]): Promise<number | undefined> {
  const everyCpu = `0-${os.cpus().length - 1}`;
  const started = performance.now();
  const child = spawn('taskset', ['-c', everyCpu, command, ...args], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Promise((resolve) => {
    let seen = '';
    const finish = (seconds: number | undefined) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(seconds);
    };
    const timer = setTimeout(() => finish(undefined), BOOT_TIMEOUT_MS);
    child.stdout!.on('data', (chunk: Buffer) => {
      // Keep only what a line split across chunks needs.
      seen = (seen + chunk.toString('latin1')).slice(-4096);
      if (seen.includes(INIT_LINE)) finish((performance.now() - started) / 1000);
    });
    child.on('exit', () => finish(undefined));
  });
}

/** The median boot time, or undefined when no boot reached /init. */
function medianOf(series: Series): number | undefined {
  return series.seconds.length === 0 ? undefined : median(series.seconds);
}

function describe(series: Series): string {
  const m = medianOf(series);
  if (m === undefined) return `none of ${series.boots} reached /init`;
  const lo = Math.min(...series.seconds);
  const hi = Math.max(...series.seconds);
  return `${fmt(m)} s (${fmt(lo)}-${fmt(hi)}), ${series.reached}/${series.boots} reached /init`;
}

/** The section's table, or a line saying why it could not run. */
export async function linuxBootSection(options: LinuxBootOptions): Promise<string> {
  const { root, stubRoot, qemuBinary, boots, say } = options;
  let images: LinuxImages;
  try {
    const out = execFileSync(process.execPath, [path.join(root, 'scripts', 'fetch-linux.js')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    images = JSON.parse(out) as LinuxImages;
  } catch (error) {
    const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return `Linux boot: skipped, scripts/fetch-linux.js failed: ${why}`;
  }
  const cli = path.join(stubRoot, 'dist', 'cli.js');
  const append = 'console=ttyS0';
  const emu = (cpus: number): [string, string[]] => [
    process.execPath,
    [cli, 'run', images.kernel, '--initrd', images.initramfs, '--append', append].concat([
      '--cpus',
      String(cpus),
      '--memory',
      '512M',
      '--backend',
      'emu',
    ]),
  ];
  const qemu = (cpus: number): [string, string[]] => [
    qemuBinary!,
    ['-accel', 'tcg', '-smp', String(cpus), '-m', '512', '-display', 'none', '-monitor', 'none']
      .concat(['-serial', 'stdio', '-no-reboot', '-kernel', images.kernel])
      .concat(['-initrd', images.initramfs, '-append', append]),
  ];
  const lines = [
    `Linux boot: Debian's ${images.version} bzImage and a busybox initramfs, \`${append}\`, 512 MiB,`,
    `to "${INIT_LINE}"; ${boots} boots per row and target, alternating, each placed on every CPU:`,
    '',
    `| vCPUs | emu | QEMU TCG | emu vs QEMU (median) |`,
    `|---|---|---|---|`,
  ];
  const targets: string[] = [];
  for (const cpus of CPU_COUNTS) {
    const ours: Series = { seconds: [], reached: 0, boots };
    const theirs: Series = { seconds: [], reached: 0, boots };
    for (let i = 0; i < boots; i++) {
      for (const [series, make] of [
        [ours, emu],
        [theirs, qemu],
      ] as const) {
        if (series === theirs && qemuBinary === undefined) continue;
        const [command, args] = make(cpus);
        const seconds = await bootOnce(command, args);
        if (seconds !== undefined) {
          series.seconds.push(seconds);
          series.reached++;
        }
      }
      say(`Linux boot, ${cpus} vCPU(s): ${i + 1}/${boots}`);
    }
    const mo = medianOf(ours);
    const mt = medianOf(theirs);
    const factor = mo !== undefined && mt !== undefined ? mt / mo : undefined;
    lines.push(
      `| ${cpus} | ${describe(ours)} | ${qemuBinary === undefined ? 'no QEMU' : describe(theirs)} | ${factor === undefined ? 'n/a' : `${factor.toFixed(2)}x`} |`,
    );
    if (cpus === 2) {
      targets.push(
        `- ${factor === undefined ? 'n/a ' : factor >= 1 ? 'met ' : 'MISS'} 2 vCPUs to /init no slower than QEMU TCG: ${factor === undefined ? '?' : `${factor.toFixed(2)}x`}`,
      );
    }
    targets.push(
      `- ${ours.reached === boots ? 'met ' : 'MISS'} ${cpus} vCPU(s): ${ours.reached} boots of ${boots} reach /init on emu`,
    );
  }
  return [...lines, '', 'Targets (issue 14), factors >1 mean emu is faster:', ...targets].join(
    '\n',
  );
}
