import { GDB_REGISTERS, REGISTER_BYTES } from '../../../lib/arch/x86_64/gdb_registers';
import { dispatch } from '../../../lib/commands/dispatch';
import { REGISTER_INFO } from '../../../lib/commands/q_register_info';
import { splitThreadSuffix } from '../../../lib/commands/thread_suffix';
import type { CommandContext } from '../../../lib/commands/types';
import { unescapeBinary } from '../../../lib/rsp/binary';
import { MockVmm, type MockVmmOptions } from '../../../lib/vmm/mock_vmm';
import type { DebugSlots } from '../../../lib/vmm/vmm';
import { commandContext, sendText } from './harness';

function setup(options: MockVmmOptions = {}): { vmm: MockVmm; context: CommandContext } {
  const vmm = new MockVmm({ vcpus: 2, ...options });
  return { vmm, context: commandContext(vmm, { packetSize: 0x4000 }) };
}

const send = sendText;

function setRip(vmm: MockVmm, vcpu: number, rip: bigint): void {
  const regs = vmm.getRegisters(vcpu);
  regs.rip = rip;
  vmm.setRegisters(vcpu, regs);
}

/** The key:value pairs of an lldb reply. */
function fields(reply: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of reply.split(';').filter(Boolean)) {
    const colon = item.indexOf(':');
    out.set(item.slice(0, colon), item.slice(colon + 1));
  }
  return out;
}

const regnum = (name: string) => GDB_REGISTERS.findIndex((reg) => reg.name === name);
const hexOf = (n: number) => n.toString(16);

describe('thread suffix', () => {
  it('splits ;thread:<tid>; off a body, with or without the final semicolon', () => {
    expect(splitThreadSuffix('10;thread:2;')).toEqual({ body: '10', vcpu: 1 });
    expect(splitThreadSuffix(';thread:0001')).toEqual({ body: '', vcpu: 0 });
    expect(splitThreadSuffix('10')).toEqual({ body: '10' });
    expect(splitThreadSuffix('10;thread:0;')).toEqual({ body: '10' });
    expect(splitThreadSuffix('10;thread:zz;')).toBeUndefined();
    expect(splitThreadSuffix('10;thread:-1;')).toBeUndefined();
    expect(splitThreadSuffix('10;thread:1;x')).toBeUndefined();
  });

  it('QThreadSuffixSupported is OK', async () => {
    const { context } = setup();
    expect(await send(context, 'QThreadSuffixSupported')).toBe('OK');
  });

  it('p<n>;thread:N; reads that thread, not the Hg one, and leaves Hg as it was', async () => {
    const { vmm, context } = setup();
    setRip(vmm, 0, 0x1000n);
    setRip(vmm, 1, 0x2000n);
    const rip = hexOf(regnum('rip'));
    expect(await send(context, `p${rip};thread:2;`)).toBe('0020000000000000');
    expect(await send(context, `p${rip};thread:1;`)).toBe('0010000000000000');
    expect(await send(context, `p${rip}`)).toBe('0010000000000000');
    expect(context.session.generalVcpu).toBe(0);
  });

  it('g;thread:N; sends that thread registers', async () => {
    const { vmm, context } = setup();
    setRip(vmm, 1, 0x2000n);
    const reply = await send(context, 'g;thread:2;');
    expect(reply).toHaveLength(REGISTER_BYTES * 2);
    const offset = GDB_REGISTERS.slice(0, regnum('rip')).reduce((n, r) => n + r.size * 2, 0);
    expect(reply.slice(offset, offset + 16)).toBe('0020000000000000');
  });

  it('P<n>=..;thread:N; and G..;thread:N; write that thread only', async () => {
    const { vmm, context } = setup();
    expect(await send(context, 'P0=8877665544332211;thread:2;')).toBe('OK');
    expect(vmm.getRegisters(1).rax).toBe(0x1122334455667788n);
    expect(vmm.getRegisters(0).rax).toBe(0n);
    const all = await send(context, 'g;thread:2;');
    expect(await send(context, `G${all};thread:1;`)).toBe('OK');
    expect(vmm.getRegisters(0).rax).toBe(0x1122334455667788n);
  });

  it('a suffix naming no vCPU is E03; a malformed one is E16', async () => {
    const { context } = setup();
    expect(await send(context, 'p0;thread:3;')).toBe('E03');
    expect(await send(context, 'g;thread:9;')).toBe('E03');
    expect(await send(context, 'p0;thread:x;')).toBe('E16');
    expect(await send(context, 'p0;thread:-1;')).toBe('E16');
  });
});

describe('qHostInfo and qProcessInfo', () => {
  it('describe a little-endian 64-bit x86 with no OS', async () => {
    const { context } = setup();
    for (const packet of ['qHostInfo', 'qProcessInfo']) {
      const info = fields(await send(context, packet));
      expect(Buffer.from(info.get('triple')!, 'hex').toString()).toBe('x86_64-unknown-unknown');
      expect(info.get('ptrsize')).toBe('8');
      expect(info.get('endian')).toBe('little');
      expect(info.get('ostype')).toBe('unknown');
    }
  });

  it('qHostInfo says watchpoints report after the access; qProcessInfo says pid 1', async () => {
    const { context } = setup();
    expect(fields(await send(context, 'qHostInfo')).get('watchpoint_exceptions_received')).toBe(
      'after',
    );
    expect(fields(await send(context, 'qProcessInfo')).get('pid')).toBe('1');
  });

  it('QEnableErrorStrings is OK', async () => {
    const { context } = setup();
    expect(await send(context, 'QEnableErrorStrings')).toBe('OK');
  });
});

describe('qRegisterInfo', () => {
  it('describes every register of the target description, in its regnum order', async () => {
    const { context } = setup();
    let offset = 0;
    for (const [n, reg] of GDB_REGISTERS.entries()) {
      const info = fields(await send(context, `qRegisterInfo${hexOf(n)}`));
      expect(info.get('name')).toBe(reg.name);
      expect(info.get('bitsize')).toBe(String(reg.size * 8));
      expect(info.get('offset')).toBe(String(offset));
      offset += reg.size;
    }
    expect(REGISTER_INFO).toHaveLength(GDB_REGISTERS.length);
    expect(offset).toBe(REGISTER_BYTES);
  });

  it('ends with E45 past the last register', async () => {
    const { context } = setup();
    expect(await send(context, `qRegisterInfo${hexOf(GDB_REGISTERS.length)}`)).toBe('E45');
    expect(await send(context, 'qRegisterInfozz')).toBe('E16');
  });

  it('gives lldb the generic roles, DWARF numbers, encodings and sets', async () => {
    const { context } = setup();
    const info = async (name: string) =>
      fields(await send(context, `qRegisterInfo${hexOf(regnum(name))}`));
    expect((await info('rip')).get('generic')).toBe('pc');
    expect((await info('rip')).get('dwarf')).toBe('16');
    expect((await info('rsp')).get('generic')).toBe('sp');
    expect((await info('rbp')).get('generic')).toBe('fp');
    expect((await info('eflags')).get('generic')).toBe('flags');
    expect((await info('rdi')).get('generic')).toBe('arg1');
    expect((await info('rdx')).get('dwarf')).toBe('1');
    expect((await info('st0')).get('encoding')).toBe('ieee754');
    expect((await info('st0')).get('set')).toBe('Floating Point Registers');
    expect((await info('xmm3')).get('encoding')).toBe('vector');
    expect((await info('xmm3')).get('format')).toBe('vector-uint8');
    expect((await info('xmm3')).get('dwarf')).toBe('20');
    expect((await info('cs')).get('set')).toBe('General Purpose Registers');
    expect((await info('cr3')).get('set')).toBe('System Registers');
    expect((await info('cr3')).get('dwarf')).toBeUndefined();
  });

  it('does not catch a packet that merely starts with its name', async () => {
    const { context } = setup();
    expect(await send(context, 'qRegisterInfoX')).toBe('E16');
  });
});

describe('QListThreadsInStopReply', () => {
  it('is OK, and then vCont stop replies list every thread and its pc', async () => {
    const { vmm, context } = setup();
    setRip(vmm, 1, 0xfff0n);
    const zero = '0'.repeat(16);
    // The frame and stack pointers and the pc ride along, as lldb reads them at every stop.
    expect(await send(context, 'vCont;s:1')).toBe(
      `T05thread:1;06:${zero};07:${zero};10:0100000000000000;`,
    );
    expect(await send(context, 'QListThreadsInStopReply')).toBe('OK');
    expect(await send(context, 'vCont;s:1')).toBe(
      `T05thread:1;06:${zero};07:${zero};10:0200000000000000;threads:1,2;thread-pcs:2,fff0;`,
    );
  });
});

describe('jThreadsInfo', () => {
  async function threadsInfo(context: CommandContext): Promise<unknown> {
    const { reply } = await dispatch(context, Buffer.from('jThreadsInfo', 'latin1'));
    const json = unescapeBinary(reply as Buffer)!.toString('utf8');
    return JSON.parse(json);
  }

  it('names every vCPU, gives its rip, rbp and rsp, and the stop signal of the reported one', async () => {
    const { vmm, context } = setup();
    setRip(vmm, 1, 0xfff0n);
    const regs = vmm.getRegisters(1);
    regs.rsp = 0x7000n;
    regs.rbp = 0x7010n;
    vmm.setRegisters(1, regs);
    await send(context, 'vCont;s:2');
    const zero = '0'.repeat(16);
    expect(await threadsInfo(context)).toEqual([
      {
        tid: 1,
        name: 'vCPU 0',
        registers: { [regnum('rbp')]: zero, [regnum('rsp')]: zero, [regnum('rip')]: zero },
      },
      {
        tid: 2,
        name: 'vCPU 1',
        signal: 5,
        registers: {
          [regnum('rbp')]: '1070000000000000',
          [regnum('rsp')]: '0070000000000000',
          [regnum('rip')]: 'f1ff000000000000',
        },
      },
    ]);
  });

  it('before the guest ran, reports vCPU 0 interrupted (as ? does)', async () => {
    const { context } = setup();
    const threads = (await threadsInfo(context)) as { signal?: number }[];
    expect(threads[0]!.signal).toBe(2);
    expect(threads[1]!.signal).toBeUndefined();
  });

  it('escapes the JSON braces as binary data', async () => {
    const { context } = setup();
    const { reply } = await dispatch(context, Buffer.from('jThreadsInfo', 'latin1'));
    expect((reply as Buffer).includes('}]')).toBe(true);
  });
});

describe('qMemoryRegionInfo', () => {
  it('reports guest RAM as mapped, within the 2 MiB block of the address', async () => {
    const { context } = setup({ memoryBytes: 0x100000 });
    expect(await send(context, 'qMemoryRegionInfo:1234')).toBe(
      'start:0;size:100000;permissions:rwx;',
    );
  });

  it('reports what is not guest RAM as unmapped (no permissions)', async () => {
    const { context } = setup({ memoryBytes: 0x100000 });
    expect(await send(context, 'qMemoryRegionInfo:180000')).toBe('start:100000;size:100000;');
    expect(await send(context, 'qMemoryRegionInfo:fee00000')).toBe('start:fee00000;size:200000;');
    expect(await send(context, 'qMemoryRegionInfo:ffffffffffffffff')).toBe(
      'start:ffffffffffe00000;size:200000;',
    );
  });

  it('follows the page tables (guest-virtual addresses)', async () => {
    const { context } = setup({ memoryBytes: 0x100000, virtualOffset: 0x40000000n });
    expect(await send(context, 'qMemoryRegionInfo:40000010')).toBe(
      'start:40000000;size:100000;permissions:rwx;',
    );
    expect(await send(context, 'qMemoryRegionInfo:10')).toBe('start:0;size:200000;');
  });

  it('is malformed without an address', async () => {
    const { context } = setup();
    expect(await send(context, 'qMemoryRegionInfo:')).toBe('E16');
    expect(await send(context, 'qMemoryRegionInfo:xyz')).toBe('E16');
  });
});

describe('qWatchpointSupportInfo', () => {
  it('is empty when the vmm has no data debug slots', async () => {
    const { context } = setup();
    expect(await send(context, 'qWatchpointSupportInfo:')).toBe('');
  });

  it('counts the data debug slots when the vmm has them', async () => {
    const { vmm, context } = setup();
    const slots: DebugSlots = { count: 4, kinds: ['exec', 'write', 'access'], set: () => {} };
    Object.defineProperty(vmm, 'watchpoints', { value: slots });
    expect(await send(context, 'qWatchpointSupportInfo:')).toBe('num:4;');
    expect(await send(context, 'qWatchpointSupportInfo')).toBe('num:4;');
  });
});
