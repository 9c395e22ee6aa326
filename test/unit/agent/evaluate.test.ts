import fc from 'fast-check';
import { evaluate, type AgentEnvironment } from '../../../lib/agent/evaluate';
import { verifyProgram, type AgentProgram } from '../../../lib/agent/program';
import { assemble, printfOperands, u16, type Instruction } from './assemble';

/**
 * An independent reference: expression trees evaluated recursively with
 * BigInt arithmetic, and a compiler from the trees to the bytecode gdb would
 * emit for them (stack tricks included). The evaluator must agree with the
 * reference on every generated tree.
 */
type Tree =
  | { k: 'const'; v: bigint }
  | { k: 'reg'; n: number }
  | { k: 'ref'; size: 1 | 2 | 4 | 8; a: Tree }
  | { k: 'unary'; op: 'log_not' | 'bit_not'; a: Tree }
  | { k: 'ext'; signed: boolean; bits: number; a: Tree }
  | { k: 'binary'; op: BinaryName; a: Tree; b: Tree }
  | { k: 'if'; c: Tree; t: Tree; f: Tree }
  | { k: 'square'; a: Tree } // dup, mul
  | { k: 'swapsub'; a: Tree; b: Tree } // b, a, swap, sub: a - b
  | { k: 'pick'; a: Tree; b: Tree } // a, b, pick 1, add, add: a + b + a
  | { k: 'rot'; a: Tree; b: Tree; c: Tree } // a, b, c, rot, sub, sub: c - (a - b)
  | { k: 'pop'; a: Tree; b: Tree }; // a, b, pop: a

type BinaryName =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div_signed'
  | 'div_unsigned'
  | 'rem_signed'
  | 'rem_unsigned'
  | 'lsh'
  | 'rsh_signed'
  | 'rsh_unsigned'
  | 'bit_and'
  | 'bit_or'
  | 'bit_xor'
  | 'equal'
  | 'less_signed'
  | 'less_unsigned';

const U64 = (x: bigint) => BigInt.asUintN(64, x);
const S64 = (x: bigint) => BigInt.asIntN(64, x);

class Fault extends Error {}

interface Machine {
  regs: bigint[];
  /** Readable bytes at MEMORY_BASE. */
  memory: Uint8Array;
}

const MEMORY_BASE = 0x2000n;

function reference(tree: Tree, m: Machine): bigint {
  const r = (t: Tree) => reference(t, m);
  switch (tree.k) {
    case 'const':
      return tree.v;
    case 'reg':
      return m.regs[tree.n]!;
    case 'ref': {
      const address = r(tree.a);
      const offset = address - MEMORY_BASE;
      if (offset < 0n || offset + BigInt(tree.size) > BigInt(m.memory.length)) throw new Fault();
      let value = 0n;
      for (let i = tree.size - 1; i >= 0; i--)
        value = value * 256n + BigInt(m.memory[Number(offset) + i]!);
      return value;
    }
    case 'unary':
      return tree.op === 'log_not' ? (r(tree.a) === 0n ? 1n : 0n) : U64(~r(tree.a));
    case 'ext': {
      const v = r(tree.a);
      if (tree.bits >= 64) return v;
      return U64(tree.signed ? BigInt.asIntN(tree.bits, v) : BigInt.asUintN(tree.bits, v));
    }
    case 'binary': {
      const a = r(tree.a);
      const b = r(tree.b);
      switch (tree.op) {
        case 'add':
          return U64(a + b);
        case 'sub':
          return U64(a - b);
        case 'mul':
          return U64(a * b);
        case 'div_signed':
          if (b === 0n) throw new Fault();
          return U64(S64(a) / S64(b));
        case 'div_unsigned':
          if (b === 0n) throw new Fault();
          return a / b;
        case 'rem_signed':
          if (b === 0n) throw new Fault();
          return U64(S64(a) % S64(b));
        case 'rem_unsigned':
          if (b === 0n) throw new Fault();
          return a % b;
        case 'lsh':
          return b >= 64n ? 0n : U64(a << b);
        case 'rsh_signed':
          return U64(S64(a) >> (b >= 64n ? 63n : b));
        case 'rsh_unsigned':
          return b >= 64n ? 0n : a >> b;
        case 'bit_and':
          return a & b;
        case 'bit_or':
          return a | b;
        case 'bit_xor':
          return a ^ b;
        case 'equal':
          return a === b ? 1n : 0n;
        case 'less_signed':
          return S64(a) < S64(b) ? 1n : 0n;
        case 'less_unsigned':
          return a < b ? 1n : 0n;
      }
      break;
    }
    case 'if':
      return r(tree.c) !== 0n ? r(tree.t) : r(tree.f);
    case 'square':
      return U64(r(tree.a) ** 2n);
    case 'swapsub': {
      const a = r(tree.a);
      return U64(a - r(tree.b));
    }
    case 'pick': {
      const a = r(tree.a);
      return U64(2n * a + r(tree.b));
    }
    case 'rot': {
      const a = r(tree.a);
      const b = r(tree.b);
      return U64(r(tree.c) - (a - b));
    }
    case 'pop': {
      const a = r(tree.a);
      r(tree.b);
      return a;
    }
  }
}

/** Compiles a tree to instructions; `at` is the byte offset the code will start at. */
function compile(tree: Tree, at: number): Instruction[] {
  const size = (code: Instruction[]) => code.reduce((n, [, ...ops]) => n + 1 + ops.length, 0);
  const seq = (...parts: ((offset: number) => Instruction[])[]): Instruction[] => {
    const out: Instruction[] = [];
    for (const part of parts) out.push(...part(at + size(out)));
    return out;
  };
  const sub = (t: Tree) => (offset: number) => compile(t, offset);
  const op =
    (...i: Instruction[]) =>
    () =>
      i;
  switch (tree.k) {
    case 'const': {
      const v = tree.v;
      if (v < 0x100n) return [['const8', Number(v)]];
      if (v < 0x10000n) return [['const16', ...u16(Number(v))]];
      const bytes = Buffer.alloc(8);
      bytes.writeBigUInt64BE(v);
      if (v < 0x100000000n) return [['const32', ...bytes.subarray(4)]];
      return [['const64', ...bytes]];
    }
    case 'reg':
      return [['reg', ...u16(tree.n)]];
    case 'ref':
      return seq(sub(tree.a), op([`ref${tree.size * 8}`]));
    case 'unary':
      return seq(sub(tree.a), op([tree.op]));
    case 'ext':
      return seq(sub(tree.a), op([tree.signed ? 'ext' : 'zero_ext', tree.bits]));
    case 'binary':
      return seq(sub(tree.a), sub(tree.b), op([tree.op]));
    case 'if': {
      // c; if_goto T; f; goto END; T: t; END:
      const cond = compile(tree.c, at);
      const elseAt = at + size(cond) + 3;
      const elseCode = compile(tree.f, elseAt);
      const thenAt = elseAt + size(elseCode) + 3;
      const thenCode = compile(tree.t, thenAt);
      const end = thenAt + size(thenCode);
      return [
        ...cond,
        ['if_goto', ...u16(thenAt)],
        ...elseCode,
        ['goto', ...u16(end)],
        ...thenCode,
      ];
    }
    case 'square':
      return seq(sub(tree.a), op(['dup'], ['mul']));
    case 'swapsub':
      return seq(sub(tree.b), sub(tree.a), op(['swap'], ['sub']));
    case 'pick':
      return seq(sub(tree.a), sub(tree.b), op(['pick', 1], ['add'], ['add']));
    case 'rot':
      return seq(sub(tree.a), sub(tree.b), sub(tree.c), op(['rot'], ['sub'], ['sub']));
    case 'pop':
      return seq(sub(tree.a), sub(tree.b), op(['pop']));
  }
}

const REGS = 4;
const BINARY: BinaryName[] = [
  'add',
  'sub',
  'mul',
  'div_signed',
  'div_unsigned',
  'rem_signed',
  'rem_unsigned',
  'lsh',
  'rsh_signed',
  'rsh_unsigned',
  'bit_and',
  'bit_or',
  'bit_xor',
  'equal',
  'less_signed',
  'less_unsigned',
];

const value = fc.oneof(
  fc.bigInt({ min: 0n, max: 0xffn }),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.constantFrom(
    0n,
    1n,
    63n,
    64n,
    65n,
    1n << 63n,
    (1n << 64n) - 1n,
    MEMORY_BASE,
    MEMORY_BASE + 4n,
  ),
);

const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    value.map((v): Tree => ({ k: 'const', v })),
    fc.integer({ min: 0, max: REGS - 1 }).map((n): Tree => ({ k: 'reg', n })),
    fc.record({
      k: fc.constant('ref' as const),
      size: fc.constantFrom<1 | 2 | 4 | 8>(1, 2, 4, 8),
      a: tie('tree'),
    }),
    fc.record({
      k: fc.constant('unary' as const),
      op: fc.constantFrom<'log_not' | 'bit_not'>('log_not', 'bit_not'),
      a: tie('tree'),
    }),
    fc.record({
      k: fc.constant('ext' as const),
      signed: fc.boolean(),
      bits: fc.integer({ min: 1, max: 70 }),
      a: tie('tree'),
    }),
    fc.record({
      k: fc.constant('binary' as const),
      op: fc.constantFrom(...BINARY),
      a: tie('tree'),
      b: tie('tree'),
    }),
    fc.record({ k: fc.constant('if' as const), c: tie('tree'), t: tie('tree'), f: tie('tree') }),
    fc.record({ k: fc.constant('square' as const), a: tie('tree') }),
    fc.record({ k: fc.constant('swapsub' as const), a: tie('tree'), b: tie('tree') }),
    fc.record({ k: fc.constant('pick' as const), a: tie('tree'), b: tie('tree') }),
    fc.record({ k: fc.constant('rot' as const), a: tie('tree'), b: tie('tree'), c: tie('tree') }),
    fc.record({ k: fc.constant('pop' as const), a: tie('tree'), b: tie('tree') }),
  ),
}));

const machine = fc.record({
  regs: fc.array(value, { minLength: REGS, maxLength: REGS }),
  memory: fc.uint8Array({ minLength: 16, maxLength: 16 }),
});

function environment(m: Machine): AgentEnvironment {
  return {
    register: (n) => m.regs[n]!,
    read: (address, length) => {
      const offset = address - MEMORY_BASE;
      if (offset < 0n || offset + BigInt(length) > BigInt(m.memory.length)) return undefined;
      return m.memory.subarray(Number(offset), Number(offset) + length);
    },
  };
}

function verified(bytes: Uint8Array, use: 'condition' | 'command' = 'condition'): AgentProgram {
  const result = verifyProgram(bytes, (n) => n < REGS, use);
  if ('error' in result) throw new Error(result.error);
  return result.program;
}

function run(instructions: Instruction[], m: Partial<Machine> = {}) {
  const full: Machine = { regs: [0n, 0n, 0n, 0n], memory: new Uint8Array(16), ...m };
  return evaluate(verified(assemble(...instructions, ['end'])), environment(full));
}

describe('evaluate', () => {
  it('agrees with the reference on generated programs', () => {
    fc.assert(
      fc.property(tree, machine, (t, m) => {
        const program = verified(assemble(...compile(t, 0), ['end']));
        const result = evaluate(program, environment(m));
        let expected: bigint | 'fault';
        try {
          expected = reference(t, m);
        } catch (error) {
          if (!(error instanceof Fault)) throw error;
          expected = 'fault';
        }
        if (expected === 'fault') expect(result.ok).toBe(false);
        else expect(result).toMatchObject({ ok: true, value: expected });
      }),
      { numRuns: 2000 },
    );
  });

  it('rot turns a b c into c a b; pick 0 is dup; swap; pop', () => {
    // a=1 b=2 c=3, rot -> 3 1 2: top is 2, then 1, then 3 (read with pops and a weighted sum).
    const weighted: Instruction[] = [
      ['rot'],
      ['const8', 100],
      ['mul'],
      ['swap'],
      ['const8', 10],
      ['mul'],
      ['add'],
      ['add'],
    ];
    expect(run([['const8', 1], ['const8', 2], ['const8', 3], ...weighted])).toMatchObject({
      value: 3n + 10n + 200n,
    });
    expect(run([['const8', 7], ['pick', 0], ['add']])).toMatchObject({ value: 14n });
    expect(run([['const8', 7], ['const8', 2], ['swap'], ['sub']])).toMatchObject({
      value: U64(2n - 7n),
    });
    expect(run([['const8', 7], ['const8', 2], ['pop']])).toMatchObject({ value: 7n });
  });

  it('ext sign-extends from n bits, zero_ext keeps n bits, and 64 or more leaves the value', () => {
    expect(
      run([
        ['const8', 0x80],
        ['ext', 8],
      ]),
    ).toMatchObject({ value: U64(-128n) });
    expect(
      run([
        ['const8', 0x7f],
        ['ext', 8],
      ]),
    ).toMatchObject({ value: 0x7fn });
    expect(
      run([
        ['const16', 0xff, 0xff],
        ['zero_ext', 8],
      ]),
    ).toMatchObject({ value: 0xffn });
    expect(
      run([
        ['const8', 0x80],
        ['ext', 64],
      ]),
    ).toMatchObject({ value: 0x80n });
  });

  it('division by zero and unreadable memory end the evaluation with an error, not a throw', () => {
    expect(run([['const8', 1], ['const8', 0], ['div_unsigned']])).toMatchObject({
      ok: false,
      error: 'division by zero',
    });
    expect(run([['const8', 9], ['ref32']])).toMatchObject({
      ok: false,
      error: 'cannot read 4 bytes at 0x9',
    });
  });

  it('INT64_MIN / -1 wraps; shifts of 64 or more give 0 or the sign', () => {
    const min = [0x80, 0, 0, 0, 0, 0, 0, 0];
    const minusOne = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    expect(run([['const64', ...min], ['const64', ...minusOne], ['div_signed']])).toMatchObject({
      value: 1n << 63n,
    });
    expect(run([['const8', 1], ['const8', 64], ['lsh']])).toMatchObject({ value: 0n });
    expect(run([['const64', ...min], ['const8', 200], ['rsh_signed']])).toMatchObject({
      value: U64(-1n),
    });
  });

  it('reads little-endian guest memory through ref8..ref64', () => {
    const memory = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    const at = [0, 0, 0x20, 0x01]; // 0x2001
    expect(run([['const32', ...at], ['ref8']], { memory })).toMatchObject({ value: 2n });
    expect(run([['const32', ...at], ['ref16']], { memory })).toMatchObject({ value: 0x0302n });
    expect(run([['const32', ...at], ['ref64']], { memory })).toMatchObject({
      value: 0x0908070605040302n,
    });
  });

  it('printf pops function, channel, then the arguments in order, and formats them', () => {
    // As gdb's gen_printf: the arguments pushed last to first, then channel and function.
    const five = verified(
      assemble(
        ['const8', 8],
        ['const8', 0x1f],
        ['const8', 7],
        ['const8', 0x41],
        ['const16', ...u16(1000)],
        ['const8', 0],
        ['const8', 0],
        ['printf', ...printfOperands(5, 'n=%lu c=%c|%5d|%-4x|%#o\\n')],
        ['end'],
      ),
      'command',
    );
    const result = evaluate(five, environment({ regs: [], memory: new Uint8Array(16) }));
    expect(result).toMatchObject({ ok: true, output: 'n=1000 c=A|    7|1f  |010\n' });
  });

  it('printf %s reads a NUL-terminated guest string; a null pointer prints (null)', () => {
    const memory = Uint8Array.from([...Buffer.from('hello\0'), ...new Array<number>(90).fill(0)]);
    const call = (pointer: Instruction) =>
      evaluate(
        verified(
          assemble(
            pointer,
            ['const8', 0],
            ['const8', 0],
            ['printf', ...printfOperands(1, '[%s]')],
            ['end'],
          ),
          'command',
        ),
        environment({ regs: [], memory }),
      );
    expect(call(['const16', ...u16(0x2000)])).toMatchObject({ ok: true, output: '[hello]' });
    expect(call(['const8', 0])).toMatchObject({ ok: true, output: '[(null)]' });
    expect(call(['const16', ...u16(0x3000)])).toMatchObject({ ok: false });
  });
});
