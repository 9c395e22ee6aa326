import { describeEachBackend } from '../support/backends';
import { expectNoGdbErrors, printed, stubLauncher } from '../support/gdb';
import { symbol } from '../support/kernels';

// Real gdb (batch mode) hands breakpoint conditions and agent dprintfs to the
// stub as agent-expression bytecode (ConditionalBreakpoints,
// BreakpointCommands) and the stub evaluates them at each hit: gdb sees only
// the hits whose condition holds, and the dprintf lines as console output.
//
// up.elf's loop: counter++, then add_numbers(last_sum, i) with b (rsi) = i =
// counter - 1, then copy_bytes(pattern_copy, pattern, 64) (src = rsi points
// at pattern, whose byte 1 is 10), then step_site().

/** What a batch gdb printed: the stub's console output (dprintf, monitor) goes to its stderr. */
function everything(gdb: { stdout: string; stderr: string }): string {
  return gdb.stdout + gdb.stderr;
}

/** The numbers `print EXPR` showed, in order. */
function printedNumbers(stdout: string): bigint[] {
  return printed(stdout).map((value) => BigInt(value.split(' ')[0]!)); // `10 '\n'` for a char
}

describeEachBackend(
  'gdb',
  'gdb breakpoint conditions and dprintf evaluated by the stub',
  (backend) => {
    const startStub = stubLauncher(backend);

    it(
      'a condition on a global: gdb marks it "target evals" and each stop is the next right hit',
      async () => {
        const stub = await startStub({ kernel: 'up', ready: /up ok\n/ });
        const gdb = await stub.gdb([
          stub.target,
          'break add_numbers if counter % 1000 == 0',
          'continue',
          'print counter',
          'continue',
          'print counter',
          'info breakpoints',
          'monitor info breakpoints',
          'detach',
        ]);
        expectNoGdbErrors(gdb);
        const [first, second] = printedNumbers(gdb.stdout);
        expect(first! % 1000n).toBe(0n);
        expect(second! - first!).toBe(1000n);
        expect(gdb.stdout).toMatch(/stop only if counter % 1000 == 0 \(target evals\)/);
        expect(gdb.stdout).toMatch(/breakpoint already hit 2 times/);
        // The stub saw every hit; only two were stops (gdb removes the breakpoint at each stop).
        const counts =
          /Z0 0x[0-9a-f]+ \(removed\): (\d+) hits, (\d+) evaluations, (\d+) stops/.exec(
            everything(gdb),
          );
        expect(counts).not.toBeNull();
        expect(Number(counts![1])).toBeGreaterThanOrEqual(1000);
        expect(Number(counts![2])).toBe(Number(counts![1]));
        expect(Number(counts![3])).toBe(2);
        expect(everything(gdb)).toMatch(/if 1: const32 0x[0-9a-f]+, ref64, .*rem_unsigned/);
      },
      backend.timeoutMs,
    );

    it(
      'a condition on a register (an argument in rsi) and one through a pointer (src in rsi)',
      async () => {
        const stub = await startStub({ kernel: 'up', ready: /up ok\n/ });
        const gdb = await stub.gdb([
          stub.target,
          'break add_numbers if b % 700 == 13',
          'continue',
          'print b',
          'continue',
          'print b',
          'delete',
          'break copy_bytes if ((unsigned char *)src)[1] == 10 && counter % 500 == 0',
          'continue',
          'print ((unsigned char *)src)[1]',
          'print counter % 500',
          'info breakpoints',
          'detach',
        ]);
        expectNoGdbErrors(gdb);
        const [b1, b2, byte, rest] = printedNumbers(gdb.stdout);
        expect(b1! % 700n).toBe(13n);
        expect(b2! - b1!).toBe(700n);
        expect(byte).toBe(10n);
        expect(rest).toBe(0n);
        expect(gdb.stdout).toMatch(/\(target evals\)/);
        expect(gdb.stdout).not.toMatch(/\(host evals\)/);
      },
      backend.timeoutMs,
    );

    it(
      'condition N changed while the breakpoint is inserted: gdb sends Z0 again and the new one holds',
      async () => {
        const stub = await startStub({ kernel: 'up', ready: /up ok\n/, args: ['--trace-rsp'] });
        const gdb = await stub.gdb([
          'set breakpoint always-inserted on',
          stub.target,
          'break add_numbers if counter % 1000 == 0',
          'continue',
          'print counter',
          'condition 1 counter % 300 == 7',
          'continue',
          'print counter',
          'continue',
          'print counter',
          'monitor info breakpoints',
          'detach',
        ]);
        expectNoGdbErrors(gdb);
        const [first, second, third] = printedNumbers(gdb.stdout);
        expect(first! % 1000n).toBe(0n);
        expect(second! % 300n).toBe(7n);
        expect(third! - second!).toBe(300n);
        // The new condition (const16 300) came in a Z0 while the old one was inserted: no z0 between.
        const trace = stub.cli.stderr();
        const address = symbol('up', 'add_numbers').toString(16);
        // (gdb may step over it first, if the attach stopped the guest right on it.)
        const insert = `<- Z0,${address},1;X`;
        const changed = trace.lastIndexOf(insert, trace.indexOf('23012c'));
        const inserted = trace.lastIndexOf(insert, changed - 1);
        expect(inserted).toBeGreaterThanOrEqual(0);
        expect(trace.slice(inserted, changed)).toContain('2303e8'); // the old condition: 1000
        expect(trace.slice(inserted, changed)).not.toContain(`z0,${address}`);
        expect(everything(gdb)).toMatch(/Z0 0x[0-9a-f]+ \(inserted\): \d+ hits/);
        expect(everything(gdb)).toMatch(/if 1: .*const16 0x12c/); // 300
      },
      backend.timeoutMs,
    );

    it(
      'hbreak with a condition: the debug slot stops only where it holds',
      async () => {
        const stub = await startStub({ kernel: 'up', ready: /up ok\n/ });
        const gdb = await stub.gdb([
          stub.target,
          'hbreak add_numbers if b % 400 == 3',
          'continue',
          'print b',
          'continue',
          'print b',
          'info breakpoints',
          'monitor info breakpoints',
          'detach',
        ]);
        expectNoGdbErrors(gdb);
        const [b1, b2] = printedNumbers(gdb.stdout);
        expect(b1! % 400n).toBe(3n);
        expect(b2! - b1!).toBe(400n);
        expect(gdb.stdout).toMatch(/hw breakpoint .*\n.*\(target evals\)/);
        expect(everything(gdb)).toMatch(/Z1 0x[0-9a-f]+ \(\w+\): \d+ hits/);
      },
      backend.timeoutMs,
    );

    it(
      'dprintf with set dprintf-style agent: the lines reach gdb with consecutive values and the guest does not stop',
      async () => {
        const stub = await startStub({ kernel: 'up', ready: /up ok\n/ });
        const gdb = await stub.gdb([
          stub.target,
          'set dprintf-style agent',
          'dprintf add_numbers,"dp b=%lu last_sum=%#lx\\n", b, a',
          'break step_site if counter % 200 == 0',
          'continue',
          'print counter',
          'info breakpoints',
          'monitor info breakpoints',
          'detach',
        ]);
        expectNoGdbErrors(gdb);
        const lines = [...everything(gdb).matchAll(/^dp b=(\d+) last_sum=(0x[0-9a-f]+|0)$/gm)];
        expect(lines.length).toBeGreaterThanOrEqual(2);
        const values = lines.map((m) => BigInt(m[1]!));
        for (let i = 1; i < values.length; i++) expect(values[i]).toBe(values[i - 1]! + 1n);
        // The last line is the pass the stop is in: b = counter - 1.
        const [counter] = printedNumbers(gdb.stdout);
        expect(values[values.length - 1]).toBe(counter! - 1n);
        expect(gdb.stdout).toMatch(/agent-printf "dp b=%lu/);
        const dprintf =
          /Z0 0x[0-9a-f]+ \(\w+\): (\d+) hits, \d+ evaluations, 0 stops\n\s+do 1: .*printf 2/.exec(
            everything(gdb),
          );
        expect(dprintf).not.toBeNull();
      },
      backend.timeoutMs,
    );

    it(
      'SMP: a condition true on one vCPU only stops that vCPU (thread 3), every time',
      async () => {
        const stub = await startStub({
          kernel: 'smp',
          args: ['--cpus', '4', '--cmdline', 'cpus=4'],
          ready: /cpus up\n/,
        });
        // cpu_loop(id) keeps id in rdx around its loop: counters[id]++ at cpu_loop+2.
        const loop = (symbol('smp', 'cpu_loop') + 2n).toString(16);
        const gdb = await stub.gdb([
          stub.target,
          `break *0x${loop} if $rdx == 2`,
          'continue',
          'thread',
          'print $rdx',
          'continue',
          'thread',
          'print $rdx',
          'info breakpoints',
          'monitor info breakpoints',
          'detach',
        ]);
        expectNoGdbErrors(gdb);
        const threads = [...gdb.stdout.matchAll(/^\[Current thread is (\d+) /gm)].map((m) => m[1]);
        expect(threads).toEqual(['3', '3']);
        expect(printedNumbers(gdb.stdout)).toEqual([2n, 2n]);
        expect(gdb.stdout).toMatch(/\(target evals\)/);
        const counts = /: (\d+) hits, \d+ evaluations, (\d+) stops/.exec(everything(gdb));
        expect(Number(counts![1])).toBeGreaterThan(Number(counts![2]));
      },
      backend.timeoutMs,
    );
  },
);
