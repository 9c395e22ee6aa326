import fc from 'fast-check';
import { evaluate, MAX_STEPS } from '../../../lib/agent/evaluate';
import { MAX_STACK, verifyProgram } from '../../../lib/agent/program';
import { assemble, printfOperands, u16 } from './assemble';

const anyRegister = (n: number) => n < 20;

function refusal(bytes: Uint8Array, use: 'condition' | 'command' = 'condition'): string {
  const verified = verifyProgram(bytes, anyRegister, use);
  if (!('error' in verified)) throw new Error('verified');
  return verified.error;
}

describe('verifyProgram', () => {
  it('accepts what gdb sends for `b % 3000 == 0` (reg, zero_ext, const16, rem_unsigned, equal, end)', () => {
    const bytes = Uint8Array.from(Buffer.from('2600042a40230bb82a40082a4022002a401327', 'hex'));
    const verified = verifyProgram(bytes, anyRegister, 'condition');
    expect('program' in verified && verified.program.maxStack).toBe(2);
  });

  it('refuses unknown, trace-only and floating-point opcodes, naming them', () => {
    expect(refusal(Uint8Array.of(0x31))).toMatch(/unknown opcode 0x31 at 0/);
    expect(refusal(Uint8Array.of(0xff))).toMatch(/unknown opcode 0xff/);
    expect(refusal(assemble(['const8', 1], ['trace_quick', 4], ['end']))).toMatch(
      /trace_quick .* tracepoints only/,
    );
    expect(refusal(assemble(['getv', 0, 1], ['end']))).toMatch(/getv .* tracepoints only/);
    expect(refusal(assemble(['const8', 1], ['l_to_d'], ['end']))).toMatch(
      /l_to_d .*floating point/,
    );
    expect(refusal(assemble(['const8', 1], ['ref_double'], ['end']))).toMatch(/floating point/);
  });

  it('refuses operands past the end, jumps into an instruction or off the end, and running off the end', () => {
    expect(refusal(Uint8Array.of(0x24, 1, 2))).toMatch(/const32 at 0 runs past the end/);
    expect(refusal(Uint8Array.of(0x22))).toMatch(/runs past the end/);
    expect(refusal(assemble(['goto', ...u16(1)], ['const8', 1], ['end']))).toMatch(
      /into the middle of an instruction/,
    );
    expect(refusal(assemble(['goto', ...u16(200)]))).toMatch(/runs off the end/);
    expect(refusal(assemble(['const8', 1]))).toMatch(/runs off the end/);
    expect(refusal(new Uint8Array(0))).toMatch(/empty/);
  });

  it('refuses stack underflow, unequal heights where paths meet, and a stack over MAX_STACK', () => {
    expect(refusal(assemble(['add'], ['end']))).toMatch(/add at 0 needs 2 stack items/);
    expect(refusal(assemble(['end']))).toMatch(/end at 0 needs 1/);
    expect(refusal(assemble(['const8', 1], ['pick', 1], ['end']))).toMatch(/pick at 2 needs 2/);
    // if_goto to `end` with 0 items on one path and 1 on the other.
    const uneven = assemble(['const8', 1], ['if_goto', ...u16(7)], ['const8', 2], ['end']);
    expect(refusal(uneven)).toMatch(/stack heights/);
    const deep = assemble(
      ...Array.from({ length: MAX_STACK + 1 }, () => ['const8', 1] as [string, number]),
      ['end'],
    );
    expect(refusal(deep)).toMatch(/deeper than/);
  });

  it('refuses registers that do not exist or do not fit the stack, and ext 0', () => {
    expect(refusal(assemble(['reg', ...u16(40)], ['end']))).toMatch(
      /reg 40 at 0: no such register/,
    );
    expect(refusal(assemble(['const8', 1], ['ext', 0], ['end']))).toMatch(/ext 0/);
  });

  it('refuses printf formats it cannot print: unterminated, a NUL inside, floats, wrong argument counts', () => {
    const call = (nargs: number, format: string) =>
      assemble(
        ['const8', 7],
        ['const8', 0],
        ['const8', 0],
        ['printf', ...printfOperands(nargs, format)],
        ['end'],
      );
    expect(verifyProgram(call(1, 'x=%d\\n'), anyRegister, 'command')).toHaveProperty('program');
    expect(refusal(call(1, 'x=%f'), 'command')).toMatch(/floating point/);
    expect(refusal(call(2, 'x=%d'), 'command')).toMatch(/2 arguments for this format/);
    expect(refusal(call(1, 'x=%d\\q'), 'command')).toMatch(/unknown escape/);
    const unterminated = call(1, 'x=%d');
    unterminated[unterminated.length - 2] = 0x41; // the NUL before `end`
    expect(refusal(unterminated, 'command')).toMatch(/not NUL-terminated/);
  });

  it('lets a command end with an empty stack (dprintf), not a condition', () => {
    const dprintf = assemble(
      ['const8', 0],
      ['const8', 0],
      ['printf', ...printfOperands(0, 'hi\\n')],
      ['end'],
    );
    expect(verifyProgram(dprintf, anyRegister, 'command')).toHaveProperty('program');
    expect(refusal(dprintf, 'condition')).toMatch(/end .* needs 1/);
  });

  it('bounds a loop by the instruction budget', () => {
    const verified = verifyProgram(assemble(['goto', ...u16(0)]), anyRegister, 'condition');
    if (!('program' in verified)) throw new Error(verified.error);
    const result = evaluate(verified.program, { register: () => 0n, read: () => undefined });
    expect(result).toMatchObject({ ok: false, error: `more than ${MAX_STEPS} instructions` });
  });

  it('any bytes: verification never throws, and what it accepts evaluates without throwing', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 48 }),
        fc.constantFrom<'condition' | 'command'>('condition', 'command'),
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        (bytes, use, memory) => {
          const verified = verifyProgram(bytes, anyRegister, use);
          if ('error' in verified) return;
          const result = evaluate(verified.program, {
            register: (n) => BigInt(n) * 0x0101010101010101n,
            // Eight readable bytes at 0x1000; everything else faults.
            read: (address, length) =>
              address >= 0x1000n && address + BigInt(length) <= 0x1008n
                ? memory.subarray(Number(address - 0x1000n), Number(address - 0x1000n) + length)
                : undefined,
          });
          expect(result.steps).toBeLessThanOrEqual(MAX_STEPS + 1);
          if (result.ok) expect(result.value >= 0n && result.value < 1n << 64n).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
