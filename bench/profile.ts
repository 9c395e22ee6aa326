import * as fs from 'node:fs';
import * as path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
}

export interface HotSpot {
  name: string;
  where: string;
  percent: number;
}

/** Self time by function over every .cpuprofile in `dir` (node --cpu-prof), hottest first. */
export function hotSpots(dir: string, top = 15): { total: number; spots: HotSpot[] } {
  const self = new Map<string, { name: string; where: string; hits: number }>();
  let total = 0;
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const hits = new Map<number, number>();
    if (profile.samples !== undefined) {
      for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
    } else {
      for (const n of profile.nodes) hits.set(n.id, n.hitCount ?? 0);
    }
    for (const [id, count] of hits) {
      const frame = byId.get(id)!.callFrame;
      const where = `${frame.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${frame.lineNumber + 1}`;
      const name = frame.functionName || '(anonymous)';
      const key = `${name} ${where}`;
      const entry = self.get(key) ?? { name, where, hits: 0 };
      entry.hits += count;
      self.set(key, entry);
      total += count;
    }
  }
  const spots = [...self.values()]
    .sort((a, b) => b.hits - a.hits)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, percent: (100 * e.hits) / Math.max(1, total) }));
  return { total, spots };
}
