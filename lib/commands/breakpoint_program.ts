import { disassemble } from '../agent/disassemble';
import { evaluate, MAX_STEPS, type AgentEnvironment } from '../agent/evaluate';
import type { ExpressionList } from '../agent/expression_list';
import { verifyProgram, type AgentProgram } from '../agent/program';
import { GDB_REGISTERS } from '../arch/x86_64/gdb_registers';
import type { HitContext, HitProgram, HitVerdict } from '../debugger/hit_program';
import type { RegisterFile } from '../vmm/registers';
import { threadIdOf } from './thread_id';

/**
 * Instructions all of one hit's expressions may run together: a Z packet
 * can carry thousands of expressions, each within MAX_STEPS.
 */
const HIT_STEPS = 4 * MAX_STEPS;

/** gdb's register numbers a `reg` may name: those of at most 8 bytes (the stack is 64-bit). */
function registerExists(n: number): boolean {
  const reg = GDB_REGISTERS[n];
  return reg !== undefined && reg.size <= 8;
}

function registerName(n: number): string {
  return GDB_REGISTERS[n]?.name ?? `${n}`;
}

/** A register's value as `reg` pushes it: its `size` bytes, zero-extended. */
function registerValue(regs: RegisterFile, n: number): bigint {
  const reg = GDB_REGISTERS[n]!;
  const value = reg.read(regs);
  const raw = typeof value === 'bigint' ? value : value.readBigUInt64LE(0);
  return reg.size >= 8 ? raw : raw & ((1n << BigInt(8 * reg.size)) - 1n);
}

/**
 * Conditions and commands of one Z0/Z1, verified, as the debugger runs them
 * at a hit. As gdbserver: the hit stops when any condition is true (or
 * there are none) and there are no commands; with commands (dprintf), they
 * run where it would stop and the vCPU goes on. An expression that fails
 * (unreadable memory, division by zero, too many instructions) stops the
 * guest there, after a console line saying why: gdb then evaluates the
 * condition itself.
 */
class AgentHitProgram implements HitProgram {
  constructor(
    private readonly conditions: readonly AgentProgram[],
    private readonly commands: readonly AgentProgram[],
  ) {}

  run(context: HitContext): HitVerdict {
    let regs: RegisterFile | undefined;
    const env: AgentEnvironment = {
      register: (n) => registerValue((regs ??= context.registers()), n),
      read: (address, length) => context.readMemory(address, length),
    };
    let output = '';
    let evaluations = 0;
    let steps = 0;
    const run = (program: AgentProgram) => {
      const result = evaluate(program, env, Math.min(MAX_STEPS, HIT_STEPS - steps));
      steps += result.steps;
      evaluations++;
      output += result.output;
      return result;
    };
    const failed = (what: string, error: string): HitVerdict => {
      const rip = (regs ??= context.registers()).rip;
      output += `vmm-gdbstub: ${what} at 0x${rip.toString(16)} failed on thread ${threadIdOf(context.vcpu)}: ${error}; stopping there\n`;
      return { stop: true, output, evaluations };
    };
    let holds = this.conditions.length === 0;
    for (let i = 0; i < this.conditions.length && !holds; i++) {
      const result = run(this.conditions[i]!);
      if (!result.ok) return failed(`condition ${i + 1}`, result.error);
      holds = result.value !== 0n;
    }
    if (!holds) return { stop: false, output, evaluations };
    if (this.commands.length === 0) return { stop: true, output, evaluations };
    for (let i = 0; i < this.commands.length; i++) {
      const result = run(this.commands[i]!);
      if (!result.ok) return failed(`command ${i + 1}`, result.error);
    }
    return { stop: false, output, evaluations };
  }

  describe(): string[] {
    return [
      ...this.conditions.map((c, i) => `if ${i + 1}: ${disassemble(c.bytes, registerName)}`),
      ...this.commands.map((c, i) => `do ${i + 1}: ${disassemble(c.bytes, registerName)}`),
    ];
  }
}

/** Verifies each expression of a Z packet's list; a string naming the first fault otherwise. */
export function compileHitProgram(list: ExpressionList): HitProgram | undefined | string {
  if (list.conditions.length === 0 && list.commands.length === 0) return undefined;
  const verify = (bytes: Uint8Array, what: string): AgentProgram | string => {
    const use = what.startsWith('condition') ? 'condition' : 'command';
    const verified = verifyProgram(bytes, registerExists, use);
    return 'error' in verified ? `${what}: ${verified.error}` : verified.program;
  };
  const conditions: AgentProgram[] = [];
  const commands: AgentProgram[] = [];
  for (const [i, bytes] of list.conditions.entries()) {
    const program = verify(bytes, `condition ${i + 1}`);
    if (typeof program === 'string') return program;
    conditions.push(program);
  }
  for (const [i, bytes] of list.commands.entries()) {
    const program = verify(bytes, `command ${i + 1}`);
    if (typeof program === 'string') return program;
    commands.push(program);
  }
  return new AgentHitProgram(conditions, commands);
}
