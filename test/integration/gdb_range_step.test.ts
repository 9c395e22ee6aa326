import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeEachBackend } from '../support/backends';
import { expectNoGdbErrors, printed, stubLauncher, type GdbResult } from '../support/gdb';
import { kernelPath, symbol } from '../support/kernels';
import { RspClient } from '../support/rsp_client';

// Range stepping (vCont;r): gdb's `next` over up.elf's spin_line, whose one
// source line loops spin_rounds times, hands the line's address range to the
// stub, which steps inside it without a round trip per instruction.

/** The vCont;r packets the stub received (its --trace-rsp log). */
function rangeSteps(stderr: string): string[] {
  return [...stderr.matchAll(/rsp <- (vCont;r[^\n]*)/g)].map((m) => m[1]!);
}

/** sum(0 .. n-1): what spin_line(n) adds to spin_acc. */
const spinSum = (n: bigint) => (n * (n - 1n)) / 2n;

/** The line gdb shows after a stop, from its `NN\t...` source line. */
function sourceLines(stdout: string): number[] {
  return [...stdout.matchAll(/^(\d+)\t/gm)].map((m) => Number(m[1]));
}

describeEachBackend('gdb', 'gdb range stepping (vCont;r)', (backend) => {
  const startStub = stubLauncher(backend);
  // Until spin_line, then one `next` from its loop line.
  const toLoopLine = (rounds: number | string) => [
    `set var spin_rounds = ${rounds}`,
    'break spin_line',
    'continue',
    'delete',
    'print spin_acc',
  ];

  it(
    "`next` over a line that loops 2,000 times ends on the caller's next line, in a few vCont;r",
    async () => {
      const stub = await startStub({ kernel: 'up', ready: /up ok\n/, args: ['--trace-rsp'] });
      const gdb = await stub.gdb([
        stub.target,
        ...toLoopLine(2000),
        'next',
        'print spin_acc',
        'print $pc >= kmain && $pc < kmain + 0x200',
        'set var spin_rounds = 0',
        'detach',
      ]);
      expectNoGdbErrors(gdb);
      const [before, after, inKmain] = printed(gdb.stdout);
      // The whole loop ran, once.
      expect(BigInt(after!) - BigInt(before!)).toBe(spinSum(2000n));
      expect(inKmain).toBe('1');
      // Stopped at spin_line's line, then back in kmain's loop.
      expect(gdb.stdout).toMatch(/^Breakpoint 1, spin_line \(n=2000\) at .*up\.c:\d+$/m);
      expect(gdb.stdout).toMatch(/^kmain \(.*\) at .*up\.c:\d+$/m);
      // The lines shown at attach, at the breakpoint, after the `next`.
      const [, loopLine, nextLine] = sourceLines(gdb.stdout);
      expect(nextLine).not.toBe(loopLine);
      expect(stub.cli.stderr()).toMatch(/rsp -> vCont;c;C;s;S;t;r/);
      const ranges = rangeSteps(stub.cli.stderr());
      expect(ranges.length).toBeGreaterThan(0);
      // gdb steps by ranges, not by 14,000 single steps.
      expect(ranges.length).toBeLessThan(50);
    },
    backend.timeoutMs,
  );

  it(
    'a breakpoint inside the range stops the `next` there',
    async () => {
      const stub = await startStub({ kernel: 'up', ready: /up ok\n/, args: ['--trace-rsp'] });
      // The store into spin_acc, inside the loop line's range.
      const store = 'spin_line+20';
      const gdb = await stub.gdb([
        stub.target,
        ...toLoopLine(2000),
        `break *${store}`,
        'next',
        `print $pc == ${store}`,
        'print spin_acc',
        'delete',
        'set var spin_rounds = 0',
        'detach',
      ]);
      expectNoGdbErrors(gdb);
      expect(gdb.stdout).toMatch(/^Breakpoint 2, 0x[0-9a-f]+ in spin_line \(n=2000\) at .*up\.c/m);
      const [before, atStore, after] = printed(gdb.stdout);
      expect(atStore).toBe('1');
      // Stopped in the first pass: nothing stored into spin_acc yet.
      expect(after).toBe(before);
      expect(rangeSteps(stub.cli.stderr()).length).toBeGreaterThan(0);
    },
    backend.timeoutMs,
  );

  it(
    'a watchpoint inside the range stops the `next` after each write that changes it',
    async () => {
      const stub = await startStub({ kernel: 'up', ready: /up ok\n/, args: ['--trace-rsp'] });
      const gdb = await stub.gdb([
        stub.target,
        ...toLoopLine(2000),
        'watch spin_acc',
        'next',
        'next',
        'print $pc > spin_line && $pc < spin_line + 0x24',
        'delete',
        'set var spin_rounds = 0',
        'detach',
      ]);
      expectNoGdbErrors(gdb);
      expect(gdb.stdout).toMatch(/^Hardware watchpoint 2: spin_acc$/m);
      const olds = [...gdb.stdout.matchAll(/^Old value = (\d+)$/gm)].map((m) => BigInt(m[1]!));
      const news = [...gdb.stdout.matchAll(/^New value = (\d+)$/gm)].map((m) => BigInt(m[1]!));
      // i = 0 adds nothing (no change, no report), then i = 1 and i = 2.
      expect(news.map((n, i) => n - olds[i]!)).toEqual([1n, 2n]);
      expect(printed(gdb.stdout).at(-1)).toBe('1');
      expect(rangeSteps(stub.cli.stderr()).length).toBeGreaterThan(0);
    },
    backend.timeoutMs,
  );

  it(
    'Ctrl-C stops a `next` whose line loops for ever, inside the line',
    async () => {
      const stub = await startStub({ kernel: 'up', ready: /up ok\n/, args: ['--trace-rsp'] });
      const args = ['-nx', '-batch', '-ex', 'set pagination off', '-ex', 'set confirm off'];
      for (const command of [
        stub.target,
        ...toLoopLine('0xffffffffffff'),
        'next',
        'print $pc >= spin_line && $pc < spin_line + 0x24',
        'set var spin_rounds = 0',
        'detach',
      ]) {
        args.push('-ex', command);
      }
      args.push(kernelPath('up'));
      const child = spawn('gdb', args);
      const result: GdbResult = { stdout: '', stderr: '', code: 0 };
      child.stdout.on('data', (d: Buffer) => (result.stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (result.stderr += d.toString()));
      const exited = new Promise<number>((resolve) =>
        child.on('exit', (code) => resolve(code ?? 1)),
      );
      await stub.cli.waitFor('stderr', /rsp <- vCont;r/, backend.timeoutMs / 2);
      await sleep(300);
      child.kill('SIGINT');
      result.code = await exited;
      expect(result.stdout).toMatch(/^Program received signal SIGINT, Interrupt\.$/m);
      expect(printed(result.stdout).at(-1)).toBe('1');
      expect(result.stdout).toMatch(/\[Inferior 1 \(Remote target\) detached\]/);
      expect(stub.cli.stderr()).toMatch(/rsp <- \^C/);
    },
    backend.timeoutMs,
  );

  it(
    'interrupts stay masked while a range is stepped (raw vCont;r on timer.elf, Ctrl-C to stop)',
    async () => {
      const stub = await startStub({ kernel: 'timer', ready: /timer ok\n/ });
      const client = await RspClient.connect({ host: '127.0.0.1', port: stub.port });
      try {
        const ticks = async () => {
          const hex = await client.request(`m${symbol('timer', 'ticks').toString(16)},8`);
          return Buffer.from(hex, 'hex').readBigUInt64LE(0);
        };
        const loop = symbol('timer', 'main_loop');
        const end = symbol('timer', 'main_loop_jmp') + 2n;
        expect(await client.request('?')).toMatch(/^T/);
        // Where the guest stopped may be the timer handler: run it out first.
        await client.request(`Z0,${loop.toString(16)},1`);
        expect(await client.request('vCont;c')).toMatch(/^T05/);
        await client.request(`z0,${loop.toString(16)},1`);
        const before = await ticks();
        client.send(`vCont;r${loop.toString(16)},${end.toString(16)}:1`);
        await sleep(300);
        client.interrupt();
        const stop = await client.next(backend.timeoutMs / 4);
        expect(stop).toMatch(/^T02/);
        const rip = /(?:^|;)10:([0-9a-f]{16});/.exec(stop)![1]!;
        const pc = Buffer.from(rip, 'hex').readBigUInt64LE(0);
        expect(pc >= loop && pc < end).toBe(true);
        expect(await ticks()).toBe(before);
        // A continue takes the timer's interrupts again.
        client.send('vCont;c');
        await sleep(300);
        client.interrupt();
        expect(await client.next(backend.timeoutMs / 4)).toMatch(/^T/);
        expect(await ticks()).toBeGreaterThan(before);
        expect(await client.request('D')).toBe('OK');
      } finally {
        await client.close();
      }
    },
    backend.timeoutMs,
  );
});
