/** Latency samples in microseconds, summarised. */
export interface Latency {
  median: number;
  p99: number;
  samples: number;
}

export function summarise(samples: number[]): Latency {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: at(0.5), p99: at(0.99), samples: sorted.length };
}

/** The median of `values` (the mean of the middle two for an even count); NaN for none. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** How long a figure may take and how many samples it wants. */
export interface Budget {
  /** Stop after this many samples... */
  samples: number;
  /** ...or after this many milliseconds, whichever comes first... */
  ms: number;
  /** ...but never with fewer than this (unless the operation itself is that slow). */
  minSamples: number;
}

/**
 * Times `op` over and over within the budget (after `warmup` untimed calls);
 * returns the per-call latencies in microseconds.
 */
export async function timeLoop(
  op: () => Promise<unknown>,
  budget: Budget,
  warmup = 20,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await op();
  const samples: number[] = [];
  const start = performance.now();
  // A hard ceiling too, so that one very slow target cannot stretch the run.
  const hardStop = start + budget.ms * 4;
  for (;;) {
    const t0 = performance.now();
    await op();
    const t1 = performance.now();
    samples.push((t1 - t0) * 1000);
    if (samples.length >= budget.samples) break;
    if (t1 - start >= budget.ms && samples.length >= budget.minSamples) break;
    if (t1 >= hardStop) break;
  }
  return samples;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
