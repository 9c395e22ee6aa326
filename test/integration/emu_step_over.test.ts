import { Debugger } from '../../lib/debugger/debugger';
import type { HitContext, HitProgram } from '../../lib/debugger/hit_program';
import { bootKernel, type BootedGuest } from '../support/emu_guest';
import { symbol } from '../support/kernels';

// The silent resume of a breakpoint whose program says go on, on emu: the
// vmm steps over the breakpoint and continues in one call
// (Vmm.stepOverAndContinue). What the debugger sees must be what the slow
// way (lift, step, plant, continue through JS) gives: every hit counted in
// order, the stop where the program says, the 0xCC in guest memory while
// the breakpoint is in, the original bytes once it is out.

let guest: BootedGuest | undefined;
afterEach(() => {
  guest?.destroy();
  guest = undefined;
});

const ADD_NUMBERS = symbol('up', 'add_numbers');

/** Goes on until the `stopAt`-th hit; records rsi (add_numbers' b: the pass number) at each. */
function countingProgram(stopAt: number, seen: bigint[]): HitProgram {
  return {
    run: (context: HitContext) => {
      seen.push(context.registers().rsi);
      return { stop: seen.length >= stopAt, output: '', evaluations: 1 };
    },
    describe: () => ['counting'],
  };
}

async function stoppedGuest(): Promise<{ g: BootedGuest; dbg: Debugger; fastCalls: () => number }> {
  const g = bootKernel('up');
  guest = g;
  await g.waitForConsole(/up ok\n/);
  let calls = 0;
  const vmm = g.vmm;
  const native = vmm.stepOverAndContinue.bind(vmm);
  vmm.stepOverAndContinue = (vcpu, gpa, original) => {
    calls++;
    return native(vcpu, gpa, original);
  };
  const dbg = new Debugger(vmm);
  await dbg.interrupt();
  return { g, dbg, fastCalls: () => calls };
}

describe('emu: a breakpoint stepped over and continued in one call', () => {
  it('counts every hit in order and stops on the one the program asks for', async () => {
    const { dbg, fastCalls } = await stoppedGuest();
    const seen: bigint[] = [];
    expect(dbg.insertBreakpoint(0, ADD_NUMBERS, countingProgram(500, seen))).toBe(true);
    const stop = await dbg.continue();
    expect(stop).toMatchObject({ vcpu: 0, reason: 'breakpoint', rip: ADD_NUMBERS });
    expect(seen).toHaveLength(500);
    for (let i = 1; i < seen.length; i++) expect(seen[i]! - seen[i - 1]!).toBe(1n);
    // 499 silent hits, each resumed through the one call.
    expect(fastCalls()).toBe(499);
    const [entry] = dbg.programBreakpoints();
    expect(entry).toMatchObject({ hits: 500, stops: 1 });
  });

  it('leaves the 0xCC in guest memory while the breakpoint is in, and the original bytes after', async () => {
    const { dbg } = await stoppedGuest();
    const original = dbg.readRaw(0, ADD_NUMBERS, 4);
    expect(original[0]).not.toBe(0xcc);
    const seen: bigint[] = [];
    dbg.insertBreakpoint(0, ADD_NUMBERS, countingProgram(50, seen));
    await dbg.continue();
    expect(dbg.readRaw(0, ADD_NUMBERS, 1)[0]).toBe(0xcc);
    expect(dbg.readMemory(0, ADD_NUMBERS, 4)).toEqual(original); // hidden from reads
    expect(dbg.removeBreakpoint(0, ADD_NUMBERS)).toBe(true);
    expect(dbg.readRaw(0, ADD_NUMBERS, 4)).toEqual(original);
  });

  it('a detach while hits go by silently leaves no 0xCC behind', async () => {
    const { g, dbg } = await stoppedGuest();
    const original = dbg.readRaw(0, ADD_NUMBERS, 4);
    // Read through the page tables while stopped; after the detach, by guest-physical address.
    const gpa = Number(dbg.translate(0, ADD_NUMBERS));
    const seen: bigint[] = [];
    dbg.insertBreakpoint(0, ADD_NUMBERS, countingProgram(Number.MAX_SAFE_INTEGER, seen));
    void dbg.continue();
    // Let hits go by for a while, across turns of the event loop.
    for (let i = 0; i < 20 && seen.length < 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(seen.length).toBeGreaterThan(0);
    dbg.detach();
    const count = seen.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(seen.length).toBe(count); // no program runs after the detach
    expect(g.vmm.readPhysical(gpa, 4)).toEqual(original);
    expect(g.vmm.vcpuState(0)).toBe('running');
  });

  it('the slow way (a program on a vCPU of two) counts the same', async () => {
    const g = bootKernel('up', { cpus: 2 });
    guest = g;
    await g.waitForConsole(/up ok\n/);
    let calls = 0;
    const native = g.vmm.stepOverAndContinue.bind(g.vmm);
    g.vmm.stepOverAndContinue = (vcpu, gpa, original) => {
      calls++;
      return native(vcpu, gpa, original);
    };
    const dbg = new Debugger(g.vmm);
    await dbg.interrupt();
    const seen: bigint[] = [];
    dbg.insertBreakpoint(0, ADD_NUMBERS, countingProgram(100, seen));
    const stop = await dbg.continue();
    expect(stop).toMatchObject({ reason: 'breakpoint', rip: ADD_NUMBERS });
    expect(seen).toHaveLength(100);
    for (let i = 1; i < seen.length; i++) expect(seen[i]! - seen[i - 1]!).toBe(1n);
    expect(calls).toBe(0); // every vCPU continues: not a lone vCPU's resume
  });
});
