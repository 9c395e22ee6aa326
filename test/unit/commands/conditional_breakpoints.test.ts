import { dispatch } from '../../../lib/commands/dispatch';
import { infoBreakpoints } from '../../../lib/commands/monitor/info_breakpoints';
import type { Session } from '../../../lib/commands/types';
import { Debugger } from '../../../lib/debugger/debugger';
import { MockVmm } from '../../../lib/vmm/mock_vmm';
import type { DebugSlotKind } from '../../../lib/vmm/vmm';
import { assemble, printfOperands, u16, type Instruction } from '../agent/assemble';

/** A software-breakpoint stop reply for `thread`, with its expedited rbp, rsp and rip. */
function swbreakOn(thread: number): RegExp {
  return new RegExp(`^T05thread:${thread};swbreak:;(?:[0-9a-f]{2}:[0-9a-f]{16};){3}$`);
}

// The mock guest is a straight line of one-byte nops: a continue runs to the
// next int3 (or execute slot). A breakpoint with a false condition at 0x108
// and a plain one at 0x110 show whether the stub went on by itself.

function setup(vcpus = 1, kinds?: DebugSlotKind[]) {
  const vmm = new MockVmm({
    memoryBytes: 0x4000,
    vcpus,
    debugSlots: kinds === undefined ? undefined : { kinds },
  });
  vmm.ram.fill(0x90);
  for (let v = 0; v < vcpus; v++) {
    const regs = vmm.getRegisters(v);
    regs.rip = 0x100n;
    regs.rdi = BigInt(v);
    vmm.setRegisters(v, regs);
  }
  const dbg = new Debugger(vmm);
  const output: string[] = [];
  dbg.on('output', (text) => output.push(text));
  const session: Session = { generalVcpu: 0, continueVcpu: -1, packetSize: 0x1000 };
  const send = async (packet: string) =>
    String((await dispatch({ debugger: dbg, session }, Buffer.from(packet, 'latin1'))).reply);
  const monitor = () => {
    const lines: string[] = [];
    void infoBreakpoints.run({ debugger: dbg, session }, [], (line) => lines.push(line));
    return lines.join('\n');
  };
  return { vmm, dbg, send, output, monitor };
}

/** `X len,hex` for a program. */
function x(...instructions: Instruction[]): string {
  const bytes = assemble(...instructions);
  return `X${bytes.length.toString(16)},${Buffer.from(bytes).toString('hex')}`;
}

const TRUE = x(['const8', 1], ['end']);
const FALSE = x(['const8', 0], ['end']);
/** rip (gdb's register 16) == 0x108. */
const AT_108 = x(['reg', ...u16(16)], ['const16', ...u16(0x108)], ['equal'], ['end']);
/** rdi (gdb's register 5) == 1. */
const RDI_IS_1 = x(['reg', ...u16(5)], ['const8', 1], ['equal'], ['end']);

describe('Z0/Z1 with conditions and commands', () => {
  it('qSupported offers ConditionalBreakpoints+ and BreakpointCommands+', async () => {
    const { send } = setup();
    const features = (await send('qSupported:swbreak+')).split(';');
    expect(features).toEqual(
      expect.arrayContaining(['ConditionalBreakpoints+', 'BreakpointCommands+']),
    );
  });

  it('a false condition costs no stop: the guest goes on to the next breakpoint, its int3 still in place', async () => {
    const { vmm, dbg, send } = setup();
    expect(await send(`Z0,108,1;${FALSE}`)).toBe('OK');
    expect(await send('Z0,110,1')).toBe('OK');
    expect(await send('c')).toMatch(swbreakOn(1));
    expect(vmm.getRegisters(0).rip).toBe(0x110n);
    expect(vmm.ram[0x108]).toBe(0xcc);
    expect(dbg.programBreakpoints()).toMatchObject([
      { address: 0x108n, inserted: true, hits: 1, evaluations: 1, stops: 0 },
    ]);
    // Removed: guest memory as without the debugger.
    await send('z0,108,1');
    await send('z0,110,1');
    expect(vmm.ram.subarray(0x100, 0x120).every((b) => b === 0x90)).toBe(true);
  });

  it('a condition that holds stops; of several, any one true stops', async () => {
    const { vmm, send } = setup();
    expect(await send(`Z0,108,1;${AT_108}`)).toBe('OK');
    expect(await send('c')).toMatch(swbreakOn(1));
    expect(vmm.getRegisters(0).rip).toBe(0x108n);
    expect(await send(`Z0,10c,1;${FALSE}${TRUE}`)).toBe('OK'); // back to back, as gdb sends them
    expect(await send('c')).toMatch(swbreakOn(1));
    expect(vmm.getRegisters(0).rip).toBe(0x10cn);
  });

  it('Z0 again at the same address replaces the conditions; without any, it stops always', async () => {
    const { vmm, send } = setup();
    await send(`Z0,108,1;${TRUE}`);
    await send(`Z0,108,1;${FALSE}`);
    await send('Z0,110,1');
    expect(await send('c')).toMatch(swbreakOn(1));
    expect(vmm.getRegisters(0).rip).toBe(0x110n);
    const regs = vmm.getRegisters(0);
    regs.rip = 0x100n;
    vmm.setRegisters(0, regs);
    await send('Z0,108,1');
    expect(await send('c')).toMatch(swbreakOn(1));
    expect(vmm.getRegisters(0).rip).toBe(0x108n);
  });

  it('commands (dprintf) print at the hit as console output and the guest does not stop there', async () => {
    const { vmm, send, output } = setup();
    const dprintf = x(
      ['reg', ...u16(16)],
      ['const8', 0],
      ['const8', 0],
      ['printf', ...printfOperands(1, 'hit at %#lx\\n')],
      ['end'],
    );
    expect(await send(`Z0,108,1;cmds:1,${dprintf}`)).toBe('OK');
    await send('Z0,110,1');
    expect(await send('c')).toMatch(swbreakOn(1));
    expect(vmm.getRegisters(0).rip).toBe(0x110n);
    expect(output).toEqual(['hit at 0x108\n']);
  });

  it('a condition that reads unmapped memory stops there, after a console line saying why', async () => {
    const { vmm, send, output } = setup();
    const unreadable = x(['const32', 0x10, 0, 0, 0], ['ref8'], ['end']);
    expect(await send(`Z0,108,1;${unreadable}`)).toBe('OK');
    await send('Z0,110,1');
    expect(await send('c')).toMatch(swbreakOn(1));
    expect(vmm.getRegisters(0).rip).toBe(0x108n);
    expect(output.join('')).toMatch(
      /condition 1 at 0x108 failed on thread 1: cannot read 1 bytes at 0x10000000; stopping there\n/,
    );
  });

  it('refuses malformed or unsupported programs with E16 and plants nothing', async () => {
    const { vmm, send } = setup();
    for (const bad of [
      `Z0,108,1;X1,31`, // no such opcode
      `Z0,108,1;${x(['const8', 1], ['trace_quick', 1], ['end'])}`,
      `Z0,108,1;${x(['const8', 1], ['l_to_d'], ['end'])}`,
      `Z0,108,1;${x(['add'], ['end'])}`, // stack underflow
      `Z0,108,1;${x(['goto', ...u16(0x40)])}`, // off the end
      `Z0,108,1;X4,2201`, // shorter than its length
      `Z0,108,1;${TRUE};`,
      `z0,108,1;${TRUE}`, // conditions only on insertion
      `Z2,108,1;${TRUE}`, // and only on breakpoints
    ]) {
      expect(await send(bad)).toBe('E16');
    }
    expect(vmm.ram[0x108]).toBe(0x90);
  });

  it('Z1 with a false condition: the debug slot is passed over by the stub', async () => {
    const { vmm, dbg, send } = setup(1, ['exec']);
    expect(await send(`Z1,108,1;${FALSE}`)).toBe('OK');
    await send('Z0,110,1');
    expect(await send('c')).toMatch(swbreakOn(1));
    expect(vmm.getRegisters(0).rip).toBe(0x110n);
    expect(dbg.programBreakpoints()).toMatchObject([{ kind: 'hardware', hits: 1, stops: 0 }]);
  });

  it('two vCPUs at one breakpoint: only the one whose condition holds is reported', async () => {
    const { vmm, send } = setup(2);
    expect(await send(`Z0,108,1;${RDI_IS_1}`)).toBe('OK');
    expect(await send('c')).toMatch(swbreakOn(2));
    expect(vmm.getRegisters(1).rip).toBe(0x108n);
  });

  it('monitor info breakpoints shows the conditions and the counts, also once gdb removed it', async () => {
    const { send, monitor } = setup();
    await send(`Z0,108,1;${AT_108}`);
    await send('c');
    await send('z0,108,1');
    expect(monitor()).toMatch(
      /Z0 0x108 \(removed\): 1 hits, 1 evaluations, 1 stops\n\s+if 1: reg rip, const16 0x108, equal, end/,
    );
  });
});

describe('Z0 with a hostile list of conditions', () => {
  it('many long false conditions share one budget for the hit, then the hit stops with a reason', async () => {
    const { vmm, send, output } = setup();
    // n = 15000; loop: n - 1, while n != 0: about 60,000 instructions, then false.
    const countdown = x(
      ['const16', ...u16(15000)],
      ['const8', 1],
      ['sub'],
      ['dup'],
      ['if_goto', ...u16(3)],
      ['end'],
    );
    expect(await send(`Z0,108,1;${countdown.repeat(10)}`)).toBe('OK');
    expect(await send('c')).toMatch(swbreakOn(1));
    expect(vmm.getRegisters(0).rip).toBe(0x108n);
    expect(output.join('')).toMatch(
      /condition 5 at 0x108 failed on thread 1: more than \d+ instructions; stopping there/,
    );
  });
});
