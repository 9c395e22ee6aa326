import { setTimeout as sleep } from 'node:timers/promises';
import { Debugger } from '../../lib/debugger/debugger';
import type { DebugSlot, StopEvent } from '../../lib/vmm/vmm';
import { kvmAvailability } from '../support/backends';
import { bootKernel, type BootedGuest } from '../support/emu_guest';
import { disassemble, symbol } from '../support/kernels';

// Data watchpoints on the kvm backend at the seam, as emu_watchpoints.test.ts
// checks them on emu. On PVM (DR7 data breakpoints never fire there) every
// data slot is memory-slot protection of the watched page; on hardware KVM
// read slots are (docs/kvm.md). up.elf writes `counter` and `last_sum` and
// reads `test_var` on every pass; the three share one 4 KiB page. Runs where
// /dev/kvm opens, otherwise prints one SKIP line. Nothing asserts timing.

const kvm = kvmAvailability();
console.log(kvm.line);
const describeKvm = kvm.usable ? describe : describe.skip;
const BOOT_MS = 60000;
const STOP_MS = 60000;
jest.setTimeout(180000);
// PVM's speed follows the host's load (guest code is emulated there), and a
// test kernel's own waits are spin loops: one retry, its failure printed.
jest.retryTimes(1, { logErrorsBeforeRetry: true });

const COUNTER = symbol('up', 'counter');
const TEST_VAR = symbol('up', 'test_var');
const LAST_SUM = symbol('up', 'last_sum');
const PATTERN = symbol('up', 'pattern');

/** The instructions after those in kmain whose text matches `pattern`, in order. */
function afterAll(pattern: RegExp): bigint[] {
  const code = disassemble('up', 'kmain');
  const found = code.flatMap((insn, i) =>
    pattern.test(insn.text) && i + 1 < code.length ? [code[i + 1]!.address] : [],
  );
  if (found.length === 0) throw new Error(`no ${String(pattern)} in kmain`);
  return found;
}
const AFTER_COUNTER_LOAD = afterAll(/^mov\s+0x[0-9a-f]+\(%rip\),%rax\s+# [0-9a-f]+ <counter>/)[0]!;
const AFTER_COUNTER_STORE = afterAll(/^mov\s+%rax,0x[0-9a-f]+\(%rip\)\s+# [0-9a-f]+ <counter>/)[0]!;
// test_var is read before the loop (`seen`), in the loop's test, and when it changed.
const AFTER_TEST_VAR_LOADS = afterAll(/^mov\s+0x[0-9a-f]+\(%rip\),%r\w+\s+# [0-9a-f]+ <test_var>/);
const AFTER_TEST_VAR_LOAD = afterAll(
  /^mov\s+0x[0-9a-f]+\(%rip\),%rax\s+# [0-9a-f]+ <test_var>/,
)[0]!;

let guest: BootedGuest | undefined;
afterEach(() => {
  guest?.destroy();
  guest = undefined;
});

/** up.elf on kvm, past its ok line, vCPU 0 paused. */
async function pausedGuest(): Promise<BootedGuest> {
  const g = bootKernel('up', { backend: 'kvm' });
  guest = g;
  await g.waitForConsole(/up ok\n/, BOOT_MS);
  const stopped = g.nextStop(STOP_MS);
  expect(g.vmm.pause(0)).toBe(true);
  await expect(stopped).resolves.toMatchObject({ reason: 'paused' });
  return g;
}

function u64(g: BootedGuest, address: bigint): bigint {
  return g.vmm.readPhysical(Number(address), 8).readBigUInt64LE();
}

function watch(g: BootedGuest, ...slots: (DebugSlot | undefined)[]): void {
  g.vmm.watchpoints!.set(0, slots);
}

async function resume(g: BootedGuest, step = false): Promise<StopEvent> {
  const stopped = g.nextStop(STOP_MS);
  g.vmm.resume(0, step ? { step: true, maskInterrupts: true } : {});
  const stop = await stopped;
  expect(g.vmm.getRegisters(0).rip).toBe(stop.rip);
  return stop;
}

/** The bytes of pattern[] a page holds: `pattern[i] = (i * 7 + 3) & 0xff`. */
function patternBytes(from: bigint, to: bigint): Buffer {
  const out = Buffer.alloc(Number(to - from));
  for (let a = from; a < to; a++) out[Number(a - from)] = (Number(a - PATTERN) * 7 + 3) & 0xff;
  return out;
}

describeKvm('kvm: data watchpoints', () => {
  it('offers four slots of every kind', () => {
    guest = bootKernel('up', { backend: 'kvm', run: false });
    expect(guest.vmm.hwBreakpoints?.count).toBe(4);
    expect(guest.vmm.watchpoints?.kinds).toEqual(['exec', 'write', 'read', 'access']);
  });

  it('a write watchpoint stops after each store to counter; last_sum on its page does not', async () => {
    const g = await pausedGuest();
    watch(g, undefined, { address: COUNTER, kind: 'write', length: 8 });
    const first = await resume(g);
    expect(first).toMatchObject({
      vcpu: 0,
      reason: 'watchpoint',
      slot: 1,
      address: COUNTER,
      access: 'write',
      rip: AFTER_COUNTER_STORE,
    });
    const regs = g.vmm.getRegisters(0);
    const value = u64(g, COUNTER);
    expect(regs.rax).toBe(value); // memory holds what the guest stored
    const sum = u64(g, LAST_SUM);
    const i = regs.rbx; // the pass: last_sum = add_numbers(last_sum, i) comes next

    const second = await resume(g);
    expect(second).toMatchObject({ reason: 'watchpoint', slot: 1, rip: AFTER_COUNTER_STORE });
    expect(u64(g, COUNTER)).toBe(value + 1n);
    // The store to last_sum, on the watched page, ran without a stop and landed.
    expect(u64(g, LAST_SUM)).toBe(sum + i);
    expect(g.vmm.getRegisters(0).rbx).toBe(i + 1n);
  });

  it('a read watchpoint stops after the load of test_var, not on the stores beside it', async () => {
    const g = await pausedGuest();
    watch(g, { address: TEST_VAR, kind: 'read', length: 8 });
    let stop = await resume(g);
    expect(stop).toMatchObject({
      reason: 'watchpoint',
      slot: 0,
      address: TEST_VAR,
      access: 'read',
    });
    expect(AFTER_TEST_VAR_LOADS).toContain(stop.rip);
    // The pause may have landed before the loop: go on to the loop's read.
    while (stop.rip !== AFTER_TEST_VAR_LOAD) stop = await resume(g);
    expect(g.vmm.getRegisters(0).rax).toBe(0n); // what it read
    const counter = u64(g, COUNTER);
    const second = await resume(g);
    expect(second).toMatchObject({ reason: 'watchpoint', rip: AFTER_TEST_VAR_LOAD });
    // One pass between the stops: counter and last_sum (same page) were read and written.
    expect(u64(g, COUNTER)).toBe(counter + 1n);
    expect(u64(g, TEST_VAR)).toBe(0n);
  });

  it('a 2-byte read watchpoint inside test_var catches the 8-byte load that overlaps it', async () => {
    const g = await pausedGuest();
    watch(g, { address: TEST_VAR + 6n, kind: 'read', length: 2 });
    const stop = await resume(g);
    expect(stop).toMatchObject({ reason: 'watchpoint', address: TEST_VAR + 6n });
    expect(AFTER_TEST_VAR_LOADS).toContain(stop.rip);
  });

  it('an access watchpoint stops after the load and after the store of counter', async () => {
    const g = await pausedGuest();
    watch(g, { address: COUNTER, kind: 'access', length: 8 });
    const stops = [await resume(g), await resume(g), await resume(g)];
    for (const stop of stops) {
      expect(stop).toMatchObject({ reason: 'watchpoint', address: COUNTER, access: 'access' });
      expect([AFTER_COUNTER_LOAD, AFTER_COUNTER_STORE]).toContain(stop.rip);
    }
    expect(new Set(stops.map((s) => s.rip)).size).toBe(2);
  });

  it('a step that performs a watched access reports the watchpoint, after the instruction', async () => {
    const g = await pausedGuest();
    watch(g, { address: COUNTER, kind: 'access', length: 8 });
    let stop = await resume(g);
    while (stop.rip !== AFTER_COUNTER_LOAD) stop = await resume(g);
    const loaded = g.vmm.getRegisters(0).rax;
    // add $1,%rax: no access.
    expect(await resume(g, true)).toMatchObject({ reason: 'step' });
    // The store: the step reports the watchpoint.
    expect(await resume(g, true)).toMatchObject({
      reason: 'watchpoint',
      rip: AFTER_COUNTER_STORE,
      address: COUNTER,
    });
    expect(u64(g, COUNTER)).toBe(loaded + 1n);
    // mov %rbx,%rsi, then the load of last_sum (the watched page, another variable): plain steps.
    const move = await resume(g, true);
    expect(move.reason).toBe('step');
    const load = await resume(g, true);
    expect(load.reason).toBe('step');
    expect(g.vmm.getRegisters(0).rdi).toBe(u64(g, LAST_SUM));
  });

  it('old and new values through the debugger; clearing restores the page and full speed', async () => {
    const g = bootKernel('up', { backend: 'kvm' });
    guest = g;
    await g.waitForConsole(/up ok\n/, BOOT_MS);
    const dbg = new Debugger(g.vmm);
    await dbg.interrupt();
    expect(dbg.insertHardware('write', COUNTER, 8)).toBe('ok');
    expect(dbg.insertHardware('read', TEST_VAR, 8)).toBe('ok');
    const stops = [await dbg.continue(), await dbg.continue(), await dbg.continue()];
    expect(stops.map((s) => s.watch?.kind).sort()).toEqual(
      expect.arrayContaining(['read', 'write']),
    );
    const write = stops.findIndex((s) => s.watch?.kind === 'write');
    expect(stops[write]!.rip).toBe(AFTER_COUNTER_STORE);

    dbg.removeHardware('write', COUNTER, 8);
    dbg.removeHardware('read', TEST_VAR, 8);
    const before = u64(g, COUNTER);
    const running = dbg.continue();
    await sleep(1000);
    const stop = await dbg.interrupt();
    await running;
    expect(stop.reason).toBe('interrupt'); // no watchpoint stop once cleared
    expect(u64(g, COUNTER)).toBeGreaterThan(before + 10n);

    // The page is guest RAM again, byte for byte: pattern's tail, last_sum,
    // test_var, counter as the guest left them, and a debugger write to
    // test_var is what the guest reads next.
    const page = COUNTER & ~0xfffn;
    expect(g.vmm.readPhysical(Number(page), Number(PATTERN + 4096n - page))).toEqual(
      patternBytes(page, PATTERN + 4096n),
    );
    expect(u64(g, TEST_VAR)).toBe(0n);
    const buffer = Buffer.alloc(8);
    buffer.writeBigUInt64LE(77n);
    dbg.writeMemory(0, TEST_VAR, buffer);
    const printed = g.waitForConsole(/test_var=77\n/, BOOT_MS);
    void dbg.continue();
    await printed;
  });

  it('refuses a read watchpoint on a page of code, of the stack or of page tables', async () => {
    const g = await pausedGuest();
    const rsp = g.vmm.getRegisters(0).rsp;
    const slots = g.vmm.watchpoints!;
    expect(() =>
      slots.set(0, [{ address: AFTER_COUNTER_STORE & ~7n, kind: 'read', length: 8 }]),
    ).toThrow(/holds the code/);
    expect(() => slots.set(0, [{ address: rsp & ~7n, kind: 'access', length: 8 }])).toThrow(
      /stack/,
    );
    expect(() =>
      slots.set(0, [{ address: symbol('up', 'boot_pml4'), kind: 'read', length: 8 }]),
    ).toThrow(/page tables/);
    // Refused and not applied: the guest runs on with nothing watched.
    slots.set(0, []);
    const stopped = g.nextStop(STOP_MS);
    g.vmm.resume(0);
    await sleep(300);
    g.vmm.pause(0);
    await expect(stopped).resolves.toMatchObject({ reason: 'paused' });
  });
});

describeKvm('kvm: data watchpoints with several vCPUs', () => {
  const COUNTERS = symbol('smp', 'counters');

  it('the vCPU whose access is watched stops; the other runs on through layout changes', async () => {
    const g = bootKernel('smp', { backend: 'kvm', cpus: 2, cmdline: 'cpus=2' });
    guest = g;
    await g.waitForConsole(/smp 2 cpus up\n/, BOOT_MS);
    const counterOf = (v: number): bigint => u64(g, COUNTERS + BigInt(8 * v));
    const stops: StopEvent[] = [];
    g.vmm.on('stop', (stop: StopEvent) => stops.push(stop));
    const paused = g.nextStop(STOP_MS);
    expect(g.vmm.pause(0)).toBe(true);
    await expect(paused).resolves.toMatchObject({ vcpu: 0, reason: 'paused' });

    // vCPU 1 spins on counters[1], on the page a watch on counters[0] makes
    // read-only (PVM): setting it changes the memory slots while vCPU 1 runs.
    watch(g, { address: COUNTERS, kind: 'write', length: 8 });
    const before = counterOf(0);
    const hit = await resume(g);
    expect(hit).toMatchObject({
      vcpu: 0,
      reason: 'watchpoint',
      address: COUNTERS,
      access: 'write',
    });
    expect(counterOf(0)).toBe(before + 1n);
    watch(g);
    const one = counterOf(1);
    for (let i = 0; i < 500 && counterOf(1) <= one; i++) await sleep(10);
    expect(counterOf(1)).toBeGreaterThan(one);
    expect(stops.filter((stop) => stop.vcpu === 1)).toEqual([]);
  });

  it('through the debugger: a watch on counters[1] stops vCPU 1', async () => {
    const g = bootKernel('smp', { backend: 'kvm', cpus: 2, cmdline: 'cpus=2' });
    guest = g;
    await g.waitForConsole(/smp 2 cpus up\n/, BOOT_MS);
    const dbg = new Debugger(g.vmm);
    await dbg.interrupt();
    expect(dbg.insertHardware('write', COUNTERS + 8n, 8)).toBe('ok');
    const stop = await dbg.continue();
    expect(stop).toMatchObject({
      vcpu: 1,
      reason: 'watchpoint',
      watch: { kind: 'write', address: COUNTERS + 8n },
    });
    dbg.detach(); // clears the slots and resumes every vCPU
    const frozen = [0, 1].map((v) => u64(g, COUNTERS + BigInt(8 * v)));
    for (let i = 0; i < 500; i++) {
      if ([0, 1].every((v) => u64(g, COUNTERS + BigInt(8 * v)) > frozen[v]!)) break;
      await sleep(10);
    }
    for (const v of [0, 1]) expect(u64(g, COUNTERS + BigInt(8 * v))).toBeGreaterThan(frozen[v]!);
  });
});
