import { GDB_REGISTERS, REGISTER_BYTES } from '../../../lib/arch/x86_64/gdb_registers';
import { G, g, parseHexBytes } from '../../../lib/commands/g';
import { P, p } from '../../../lib/commands/p';
import type { CommandContext } from '../../../lib/commands/types';
import { MockVmm } from '../../../lib/vmm/mock_vmm';
import type { RegisterFile } from '../../../lib/vmm/registers';
import { commandContext, sendText } from './harness';

function setup(vcpus = 1): { vmm: MockVmm; context: CommandContext } {
  const vmm = new MockVmm({ vcpus });
  return { vmm, context: commandContext(vmm, { packetSize: 0x4000 }) };
}

const send = sendText;

function editRegisters(vmm: MockVmm, vcpu: number, edit: (regs: RegisterFile) => void): void {
  const regs = vmm.getRegisters(vcpu);
  edit(regs);
  vmm.setRegisters(vcpu, regs);
}

const regnum = (name: string) => GDB_REGISTERS.findIndex((reg) => reg.name === name);
/** Little-endian hex of value in size bytes. */
function le(value: bigint, size: number): string {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return out.toString('hex');
}
/** Where register n starts in the g reply, in hex digits. */
function offsetOf(n: number): number {
  return GDB_REGISTERS.slice(0, n).reduce((sum, reg) => sum + reg.size * 2, 0);
}

describe('g', () => {
  it('parses only an empty body', () => {
    expect(g.parse('')).toBe(true);
    expect(g.parse('0')).toBeUndefined();
  });

  it('sends every register, core, SSE, segment bases and system, in regnum order', async () => {
    const { vmm, context } = setup();
    editRegisters(vmm, 0, (regs) => {
      regs.rax = 0x1122334455667788n;
      regs.rflags = 0x246n;
      regs.fs.base = 0xffff800000001000n;
      regs.kernelGsBase = 0xabcdn;
      regs.cr3 = 0x5000n;
      regs.fpu.xmm[0]!.fill(0x5a);
    });
    const reply = await send(context, 'g');
    expect(reply).toHaveLength(REGISTER_BYTES * 2);
    const field = (name: string) => {
      const n = regnum(name);
      return reply.slice(offsetOf(n), offsetOf(n) + GDB_REGISTERS[n]!.size * 2);
    };
    expect(field('rax')).toBe('8877665544332211');
    expect(field('eflags')).toBe('46020000');
    expect(field('cs')).toBe('08000000');
    expect(field('fs_base')).toBe(le(0xffff800000001000n, 8));
    expect(field('k_gs_base')).toBe(le(0xabcdn, 8));
    expect(field('cr0')).toBe(le(0x80000011n, 8));
    expect(field('cr3')).toBe(le(0x5000n, 8));
    expect(field('efer')).toBe(le(0x500n, 8));
    expect(field('xmm0')).toBe('5a'.repeat(16));
    expect(field('mxcsr')).toBe('801f0000');
    expect(field('fctrl')).toBe('7f030000');
  });

  it('reads the Hg thread', async () => {
    const { vmm, context } = setup(2);
    editRegisters(vmm, 1, (regs) => (regs.rbx = 0x77n));
    expect(await send(context, 'Hg2')).toBe('OK');
    const reply = await send(context, 'g');
    expect(reply.slice(offsetOf(1), offsetOf(2))).toBe(le(0x77n, 8));
  });
});

describe('p', () => {
  it('parses a hex register number', () => {
    expect(p.parse('10')).toBe(16);
    expect(p.parse('')).toBeUndefined();
    expect(p.parse('zz')).toBeUndefined();
  });

  it('sends each register exactly as it appears in the g reply', async () => {
    const { vmm, context } = setup();
    editRegisters(vmm, 0, (regs) => {
      regs.rip = 0x100020n;
      regs.gs.base = 0x4000n;
      regs.cr2 = 0xdeadb000n;
      regs.fpu.st[2]!.fill(0x3c);
    });
    const all = await send(context, 'g');
    for (let n = 0; n < GDB_REGISTERS.length; n++) {
      const expected = all.slice(offsetOf(n), offsetOf(n + 1));
      expect([GDB_REGISTERS[n]!.name, await send(context, `p${n.toString(16)}`)]).toEqual([
        GDB_REGISTERS[n]!.name,
        expected,
      ]);
    }
  });

  it('answers E for a register number past the last and for a malformed one', async () => {
    const { context } = setup();
    expect(await send(context, `p${GDB_REGISTERS.length.toString(16)}`)).toBe('E16');
    expect(await send(context, 'pfffffff')).toBe('E16');
    expect(await send(context, 'p')).toBe('E16');
    expect(await send(context, 'p1x')).toBe('E16');
  });
});

describe('P', () => {
  it('parses n=value, with the value as bytes', () => {
    expect(P.parse('1a=0102')).toEqual({ regnum: 0x1a, value: Buffer.from([1, 2]) });
    expect(P.parse('1a=010')).toBeUndefined();
    expect(P.parse('1a=zz')).toBeUndefined();
    expect(P.parse('=00')).toBeUndefined();
    expect(P.parse('10')).toBeUndefined();
  });

  it('writes every register, and p reads back what was written', async () => {
    const { context } = setup();
    for (let n = 0; n < GDB_REGISTERS.length; n++) {
      const reg = GDB_REGISTERS[n]!;
      // Selectors keep 16 bits; other registers keep all their bytes.
      const bytes = reg.type === 'int32' ? 2 : reg.size;
      const value = Buffer.alloc(reg.size);
      for (let i = 0; i < bytes; i++) value[i] = (n + i * 3 + 1) & 0xff;
      const hex = value.toString('hex');
      expect([reg.name, await send(context, `P${n.toString(16)}=${hex}`)]).toEqual([
        reg.name,
        'OK',
      ]);
      expect([reg.name, await send(context, `p${n.toString(16)}`)]).toEqual([reg.name, hex]);
    }
  });

  it('reaches the vmm: system registers, segment bases, x87 and SSE', async () => {
    const { vmm, context } = setup();
    const write = (name: string, value: string) =>
      send(context, `P${regnum(name).toString(16)}=${value}`);
    expect(await write('rax', le(0x1234n, 8))).toBe('OK');
    expect(await write('fs_base', le(0x7000n, 8))).toBe('OK');
    expect(await write('gs_base', le(0x8000n, 8))).toBe('OK');
    expect(await write('k_gs_base', le(0x9000n, 8))).toBe('OK');
    expect(await write('cr0', le(0x80000033n, 8))).toBe('OK');
    expect(await write('cr4', le(0x6a0n, 8))).toBe('OK');
    expect(await write('cr8', le(0xfn, 8))).toBe('OK');
    expect(await write('efer', le(0xd01n, 8))).toBe('OK');
    expect(await write('xmm15', '0f'.repeat(16))).toBe('OK');
    expect(await write('st7', 'ab'.repeat(10))).toBe('OK');
    expect(await write('mxcsr', le(0x1fa0n, 4))).toBe('OK');
    const regs = vmm.getRegisters(0);
    expect(regs.rax).toBe(0x1234n);
    expect(regs.fs.base).toBe(0x7000n);
    expect(regs.gs.base).toBe(0x8000n);
    expect(regs.kernelGsBase).toBe(0x9000n);
    expect(regs.cr0).toBe(0x80000033n);
    expect(regs.cr4).toBe(0x6a0n);
    expect(regs.cr8).toBe(0xfn);
    expect(regs.efer).toBe(0xd01n);
    expect(regs.fpu.xmm[15]).toEqual(Buffer.alloc(16, 0x0f));
    expect(regs.fpu.st[7]).toEqual(Buffer.alloc(10, 0xab));
    expect(regs.fpu.mxcsr).toBe(0x1fa0);
  });

  it('keeps the high half of the x87 instruction pointer when fioff is written', async () => {
    const { vmm, context } = setup();
    editRegisters(vmm, 0, (regs) => (regs.fpu.fip = 0xffff800012345678n));
    expect(await send(context, `P${regnum('fioff').toString(16)}=${le(0xaabbccddn, 4)}`)).toBe(
      'OK',
    );
    expect(vmm.getRegisters(0).fpu.fip).toBe(0xffff8000aabbccddn);
  });

  it('answers E for a value of the wrong size, odd hex or no such register', async () => {
    const { vmm, context } = setup();
    const before = vmm.getRegisters(0);
    expect(await send(context, 'P0=0102')).toBe('E16');
    expect(await send(context, `P0=${'00'.repeat(9)}`)).toBe('E16');
    expect(await send(context, 'P0=123')).toBe('E16');
    expect(await send(context, `P${GDB_REGISTERS.length.toString(16)}=${'00'.repeat(8)}`)).toBe(
      'E16',
    );
    expect(vmm.getRegisters(0)).toEqual(before);
  });
});

describe('G', () => {
  it('accepts exactly the g reply length in hex', () => {
    expect(G.parse('00'.repeat(REGISTER_BYTES))).toHaveLength(REGISTER_BYTES);
    expect(G.parse('00'.repeat(REGISTER_BYTES - 1))).toBeUndefined();
    expect(G.parse('00'.repeat(REGISTER_BYTES + 1))).toBeUndefined();
    expect(G.parse('0'.repeat(REGISTER_BYTES * 2 - 1))).toBeUndefined();
    expect(G.parse('0g' + '00'.repeat(REGISTER_BYTES - 1))).toBeUndefined();
  });

  it('writes all registers: g after G returns what G sent', async () => {
    const { vmm, context } = setup();
    const all = await send(context, 'g');
    const n = regnum('r12');
    const changed = all.slice(0, offsetOf(n)) + le(0xfeedn, 8) + all.slice(offsetOf(n + 1));
    const cr3 = regnum('cr3');
    const withCr3 =
      changed.slice(0, offsetOf(cr3)) + le(0x9000n, 8) + changed.slice(offsetOf(cr3 + 1));
    expect(await send(context, 'G' + withCr3)).toBe('OK');
    expect(await send(context, 'g')).toBe(withCr3);
    expect(vmm.getRegisters(0).r12).toBe(0xfeedn);
    expect(vmm.getRegisters(0).cr3).toBe(0x9000n);
  });

  it('answers E to partial, odd or non-hex data and changes nothing', async () => {
    const { vmm, context } = setup();
    const before = vmm.getRegisters(0);
    const all = await send(context, 'g');
    expect(await send(context, 'G' + all.slice(0, -2))).toBe('E16');
    expect(await send(context, 'G' + all + '00')).toBe('E16');
    expect(await send(context, 'G' + all.slice(0, -1))).toBe('E16');
    expect(await send(context, 'G' + 'x' + all.slice(1))).toBe('E16');
    expect(vmm.getRegisters(0)).toEqual(before);
  });
});

describe('parseHexBytes', () => {
  it('takes an even run of hex digits only', () => {
    expect(parseHexBytes('')).toEqual(Buffer.alloc(0));
    expect(parseHexBytes('aB01')).toEqual(Buffer.from([0xab, 0x01]));
    expect(parseHexBytes('a')).toBeUndefined();
    expect(parseHexBytes('0x')).toBeUndefined();
  });
});
