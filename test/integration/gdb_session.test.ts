import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeEachBackend } from '../support/backends';
import {
  asTyped,
  examinedInstructions,
  expectNoGdbErrors,
  printed,
  stubLauncher,
  type Disassembled as Ins,
} from '../support/gdb';
import { KERNEL_DIR, symbol } from '../support/kernels';
import { disassemble } from '../support/kernels';

// Real gdb (batch mode) against `vmm-gdbstub run` on up.elf: breakpoints,
// stepping by instruction and by line, finish, set var, detach; in ack and
// in no-ack mode.

const UP_C = path.join(KERNEL_DIR, '..', 'up', 'up.c');

/** The number of the line of up.c that contains `text`. */
function lineOf(text: string): number {
  const index = fs
    .readFileSync(UP_C, 'utf8')
    .split('\n')
    .findIndex((line) => line.includes(text));
  if (index < 0) throw new Error(`no "${text}" in ${UP_C}`);
  return index + 1;
}

/** The address of the instruction after kmain's call to `callee`, and the call's own address. */
function callInKmain(callee: string): { call: bigint; next: bigint } {
  const code = disassemble('up', 'kmain');
  const calls = code
    .map((instruction, index) => ({ instruction, index }))
    .filter(({ instruction }) => new RegExp(`^call\\s.*<${callee}>$`).test(instruction.text));
  // The last call: the one in the main loop, not in the set-up before it.
  const index = calls.length > 0 ? calls[calls.length - 1]!.index : -1;
  if (index < 0) throw new Error(`kmain does not call ${callee}`);
  return { call: code[index]!.address, next: code[index + 1]!.address };
}

const hex = (value: bigint) => `0x${value.toString(16)}`;

/** The `-> ...` and `<- ...` lines --trace-rsp printed, without their prefix. */
function traced(stderr: string): string[] {
  return [...stderr.matchAll(/^vmm-gdbstub: rsp (.*)$/gm)].map((m) => m[1]!);
}

describeEachBackend('gdb', 'gdb controls the guest', (backend) => {
  const startStub = stubLauncher(backend);

  for (const noAck of [false, true]) {
    it(
      `break, continue, info frame, stepi, nexti, set var and detach (${noAck ? 'no-ack' : 'ack'} mode)`,
      async () => {
        const stub = await startStub({ kernel: 'up', args: ['--trace-rsp'], ready: /up ok\n/ });
        const addNumbers = symbol('up', 'add_numbers');
        const copyCall = callInKmain('copy_bytes');
        const testValue = noAck ? 8 : 7;
        const gdb = await stub.gdb([
          `set remote noack-packet ${noAck ? 'on' : 'off'}`,
          stub.target,
          'break add_numbers',
          'continue',
          'info frame',
          'x/2i $pc',
          'stepi',
          'print/x $pc',
          'delete',
          `tbreak *${hex(copyCall.call)}`,
          'continue',
          'x/2i $pc',
          'nexti',
          'print/x $pc',
          `set var test_var = ${testValue}`,
          'print test_var',
          'detach',
        ]);
        expectNoGdbErrors(gdb);
        const out = gdb.stdout;

        // break add_numbers: gdb puts it at the function's first instruction
        // (a leaf without prologue), and continue stops there.
        expect(out).toMatch(
          new RegExp(
            `Breakpoint 1 at ${hex(addNumbers)}: file .*up\\.c, line ${lineOf('return a + b')}`,
          ),
        );
        expect(out).toMatch(
          /^Breakpoint 1, add_numbers \(a=\d+, b=(b@entry=)?\d+\) at .*up\.c:\d+$/m,
        );
        // info frame: in add_numbers, called from kmain's loop.
        const returnAddress = callInKmain('add_numbers').next;
        expect(out).toMatch(
          new RegExp(
            `^ rip = ${hex(addNumbers)} in add_numbers \\(.*up\\.c:\\d+\\); saved rip = ${hex(returnAddress)}$`,
            'm',
          ),
        );
        expect(out).toMatch(/^ called by frame at 0x[0-9a-f]+$/m);

        // stepi and nexti advance rip by exactly one instruction's length, as
        // both gdb's x/2i and objdump see it.
        const listings = examinedInstructions(out);
        expect(listings).toHaveLength(4);
        const [lea, ret, call, afterCall] = listings as [Ins, Ins, Ins, Ins];
        const addCode = disassemble('up', 'add_numbers');
        expect(lea).toEqual({ address: addNumbers, text: expect.stringMatching(/^lea\s/) });
        expect(ret.address).toBe(addCode[1]!.address);
        expect(ret.text).toBe('ret');
        expect(call).toEqual({
          address: copyCall.call,
          text: expect.stringMatching(/^call\s+0x[0-9a-f]+ <copy_bytes>$/),
        });
        expect(afterCall.address).toBe(copyCall.next);
        const pcs = printed(out);
        expect(pcs.slice(0, 2)).toEqual([hex(ret.address), hex(afterCall.address)]);
        // nexti stepped over the whole call: back in kmain, at the next line.
        expect(out).toMatch(new RegExp(`^${lineOf('step_site();')}\\s+step_site\\(\\);$`, 'm'));

        // set var writes guest memory; gdb reads it back, and once detached the
        // guest runs on, sees the change and prints it.
        expect(pcs[2]).toBe(String(testValue));
        expect(out).toMatch(/^\[Inferior 1 \(Remote target\) detached\]$/m);
        await stub.cli.waitFor(
          'stdout',
          new RegExp(`vmm-gdbstub test kernel: test_var=${testValue}\\n`),
          backend.timeoutMs / 2,
        );

        // The mode gdb and the stub agreed on, as --trace-rsp shows it.
        const trace = traced(stub.cli.stderr());
        const noAckAt = trace.indexOf('<- QStartNoAckMode');
        if (noAck) {
          expect(noAckAt).toBeGreaterThan(0);
          expect(trace.slice(noAckAt + 1, noAckAt + 3)).toEqual(['-> +', '-> OK']);
          const after = trace.slice(noAckAt + 3);
          expect(after.length).toBeGreaterThan(20);
          expect(after).not.toContain('-> +');
          expect(after).not.toContain('<- +');
        } else {
          expect(noAckAt).toBe(-1);
          const packetsIn = trace.filter((l) => l.startsWith('<- ') && l !== '<- +');
          const acksOut = trace.filter((l) => l === '-> +');
          expect(packetsIn.length).toBeGreaterThan(20);
          expect(acksOut).toHaveLength(packetsIn.length); // one + for every packet
        }
      },
      backend.timeoutMs,
    );
  }

  it(
    'finish returns from add_numbers with its value, and next steps kmain line by line',
    async () => {
      const stub = await startStub({ kernel: 'up', ready: /up ok\n/ });
      const gdb = await stub.gdb([
        stub.target,
        'break add_numbers',
        'continue',
        'delete',
        asTyped('finish'),
        'info frame',
        'next',
        'next',
        'print last_sum',
        `tbreak up.c:${lineOf('step_site();')}`,
        'continue',
        'print/x $pc',
        'detach',
      ]);
      expectNoGdbErrors(gdb);
      const out = gdb.stdout;
      const hit = /^Breakpoint 1, add_numbers \(a=(\d+), b=(?:b@entry=)?(\d+)\)/m.exec(out);
      expect(hit).not.toBeNull();
      const sum = BigInt(hit![1]!) + BigInt(hit![2]!);

      // finish: "Run till exit", back in kmain right after the call, and the value.
      expect(out).toMatch(/^Run till exit from #0 {2}add_numbers \(a=\d+, b=.*\) at .*up\.c:\d+$/m);
      const callLine = lineOf('last_sum = add_numbers(last_sum, i);');
      const returnAddress = callInKmain('add_numbers').next;
      expect(out).toMatch(
        new RegExp(
          `^0x0*${returnAddress.toString(16)} in kmain \\(.*\\) at .*up\\.c:${callLine}$`,
          'm',
        ),
      );
      expect(out).toMatch(new RegExp(`^Value returned is \\$\\d+ = ${sum}$`, 'm'));
      expect(out).toMatch(
        new RegExp(`^ rip = ${hex(returnAddress)} in kmain \\(.*up\\.c:${callLine}\\);`, 'm'),
      );

      // next, next: the copy line, then the step_site line; by then the
      // returned value is stored.
      const copyLine = lineOf('copy_bytes(pattern_copy, pattern, COPY_PER_LOOP);');
      const siteLine = lineOf('step_site();');
      expect(out).toMatch(new RegExp(`^${copyLine}\\s+copy_bytes\\(pattern_copy,`, 'm'));
      expect(out).toMatch(new RegExp(`^${siteLine}\\s+step_site\\(\\);$`, 'm'));
      const values = printed(out); // last_sum, then $pc ("Value returned" is not at a line start)
      expect(values[0]).toBe(String(sum));

      // A breakpoint on a source line in the loop: the next pass stops there.
      expect(out).toMatch(
        new RegExp(`^Temporary breakpoint 2, kmain \\(.*\\) at .*up\\.c:${siteLine}$`, 'm'),
      );
      expect(values[1]).toBe(hex(callInKmain('step_site').call));
    },
    backend.timeoutMs,
  );
});
