import { Debugger } from '../../lib/debugger/debugger';
import { bootKernel, type BootedGuest } from '../support/emu_guest';
import { symbol } from '../support/kernels';

// Hardware breakpoints and watchpoints on emu, at the debugger's level over
// the native seam: up.elf writes `counter` and reads `test_var` every pass.

let guest: BootedGuest | undefined;
afterEach(() => {
  guest?.destroy();
  guest = undefined;
});

const COUNTER = symbol('up', 'counter');
const TEST_VAR = symbol('up', 'test_var');
const ADD_NUMBERS = symbol('up', 'add_numbers');

async function stoppedGuest(): Promise<{ g: BootedGuest; dbg: Debugger }> {
  const g = bootKernel('up');
  guest = g;
  await g.waitForConsole(/up ok\n/);
  const dbg = new Debugger(g.vmm);
  await dbg.interrupt();
  return { g, dbg };
}

function u64(dbg: Debugger, address: bigint): bigint {
  return dbg.readMemory(0, address, 8).readBigUInt64LE();
}

describe('emu: debug slots', () => {
  it('offers four slots of every kind', () => {
    guest = bootKernel('up', { run: false });
    expect(guest.vmm.hwBreakpoints?.count).toBe(4);
    expect(guest.vmm.watchpoints?.kinds).toEqual(['exec', 'write', 'read', 'access']);
  });

  it('an execute slot stops before add_numbers, and each continue stops one pass later', async () => {
    const { g, dbg } = await stoppedGuest();
    expect(dbg.insertHardware('exec', ADD_NUMBERS, 1)).toBe('ok');
    const first = await dbg.continue();
    expect(first).toMatchObject({ vcpu: 0, reason: 'debug-register', rip: ADD_NUMBERS, slot: 0 });
    const b = g.vmm.getRegisters(0).rsi; // add_numbers(last_sum, i): i counts the passes
    const second = await dbg.continue();
    expect(second).toMatchObject({ reason: 'debug-register', rip: ADD_NUMBERS });
    expect(g.vmm.getRegisters(0).rsi).toBe(b + 1n);
  });

  it('a write watchpoint on counter stops after the store, once per pass', async () => {
    const { g, dbg } = await stoppedGuest();
    expect(dbg.insertHardware('write', COUNTER, 8)).toBe('ok');
    const first = await dbg.continue();
    expect(first).toMatchObject({
      reason: 'watchpoint',
      watch: { kind: 'write', address: COUNTER },
    });
    const value = u64(dbg, COUNTER);
    const rip = first.rip;
    const second = await dbg.continue();
    expect(second.rip).toBe(rip); // the instruction after the store, again
    expect(u64(dbg, COUNTER)).toBe(value + 1n);
    // The stop is after the access: rip is not on an instruction that writes counter again.
    expect(g.vmm.getRegisters(0).rip).toBe(rip);
  });

  it('a read watchpoint on test_var stops after the load without the value changing', async () => {
    const { dbg } = await stoppedGuest();
    expect(dbg.insertHardware('read', TEST_VAR, 8)).toBe('ok');
    const stop = await dbg.continue();
    expect(stop).toMatchObject({
      reason: 'watchpoint',
      watch: { kind: 'read', address: TEST_VAR },
    });
    expect(u64(dbg, TEST_VAR)).toBe(0n);
  });

  it('an access watchpoint on counter stops on the read and on the write', async () => {
    const { dbg } = await stoppedGuest();
    expect(dbg.insertHardware('access', COUNTER, 8)).toBe('ok');
    const stops = [await dbg.continue(), await dbg.continue(), await dbg.continue()];
    for (const stop of stops) {
      expect(stop).toMatchObject({
        reason: 'watchpoint',
        watch: { kind: 'access', address: COUNTER },
      });
    }
    // counter++ at -O1 is a load and a store: the three stops cover at least one of each.
    expect(new Set(stops.map((s) => s.rip)).size).toBe(2);
  });

  it('a watchpoint of 1 byte inside counter, and removal lets the guest run free', async () => {
    const { g, dbg } = await stoppedGuest();
    expect(dbg.insertHardware('write', COUNTER, 1)).toBe('ok');
    expect(await dbg.continue()).toMatchObject({ reason: 'watchpoint' });
    dbg.removeHardware('write', COUNTER, 1);
    const before = u64(dbg, COUNTER);
    const running = dbg.continue();
    await g.waitForConsole(/up ok\n/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stop = await dbg.interrupt();
    await running;
    expect(stop.reason).toBe('interrupt');
    expect(u64(dbg, COUNTER)).toBeGreaterThan(before + 10n);
  });

  it('the seam refuses an unaligned or oddly sized data slot', () => {
    guest = bootKernel('up', { run: false });
    const slots = guest.vmm.watchpoints!;
    expect(() => slots.set(0, [{ address: COUNTER + 4n, kind: 'write', length: 8 }])).toThrow(
      /aligned/,
    );
    expect(() =>
      slots.set(0, [{ address: COUNTER, kind: 'write', length: 3 as unknown as 8 }]),
    ).toThrow(/length/);
  });
});
