import { planBoot, type BootPlan } from '../../../lib/guest';
import { CONTROL_NAMES, GPR_NAMES, type SegmentRegister } from '../../../lib/vmm/registers';
import { buildElf, guestMemory, multibootHeader } from './image_builder';

const MEMORY = 32 * 1024 * 1024;
const options = { memorySize: MEMORY, cmdline: 'x', cpus: 4 };

function multibootPlan(): BootPlan {
  const elf = buildElf({
    elfClass: 32,
    entry: 0x100040,
    segments: [{ vaddr: 0x100000, data: Buffer.alloc(0x100, 0x90) }],
    patches: [{ offset: 0x100, bytes: multibootHeader() }],
  });
  return planBoot(elf, options);
}

function elf64Plan(): BootPlan {
  const elf = buildElf({
    entry: 0x200010,
    segments: [{ vaddr: 0x200000, data: Buffer.alloc(0x100, 0x90) }],
  });
  return planBoot(elf, options);
}

/** The segment register a GDT slot would load, decoded from guest memory. */
function descriptorAt(
  memory: Buffer,
  gdtBase: number,
  selector: number,
): Omit<SegmentRegister, 'selector'> {
  const raw = memory.readBigUInt64LE(gdtBase + selector);
  const base = Number(((raw >> 16n) & 0xffffffn) | (((raw >> 56n) & 0xffn) << 24n));
  const rawLimit = Number((raw & 0xffffn) | (((raw >> 48n) & 0xfn) << 16n));
  const access = Number((raw >> 40n) & 0xffn) | (Number((raw >> 52n) & 0xfn) << 12);
  const limit = access & (1 << 15) ? rawLimit * 4096 + 4095 : rawLimit;
  return { base: BigInt(base), limit, access };
}

const flatData = { selector: 0x10, base: 0n, limit: 0xffffffff, access: 0xc093 };

describe('Multiboot initial vCPU state', () => {
  const plan = multibootPlan();
  const regs = plan.bsp;

  it('enters 32-bit protected mode without paging', () => {
    expect(regs.cr0).toBe(0x11n);
    expect([regs.cr3, regs.cr4, regs.efer]).toEqual([0n, 0n, 0n]);
  });

  it('passes the Multiboot magic in EAX and the info block in EBX, and starts at the entry', () => {
    expect(regs.rax).toBe(0x2badb002n);
    expect(regs.rbx).toBe(0x90000n);
    expect(regs.rip).toBe(0x100040n);
    expect(plan.entry).toBe(0x100040n);
  });

  it('leaves every other general and control register zero, RFLAGS 0x2, DR6/DR7 at reset values', () => {
    const nonZero = [...GPR_NAMES, ...CONTROL_NAMES].filter((name) => regs[name] !== 0n);
    expect(nonZero.sort()).toEqual(['cr0', 'dr6', 'dr7', 'rax', 'rbx', 'rflags', 'rip']);
    expect(regs.rflags).toBe(0x2n);
    expect(regs.dr6).toBe(0xffff0ff0n);
    expect(regs.dr7).toBe(0x400n);
  });

  it('uses flat 4 GiB code (0x08) and data (0x10) segments', () => {
    expect(regs.cs).toEqual({ selector: 0x08, base: 0n, limit: 0xffffffff, access: 0xc09b });
    for (const seg of [regs.ds, regs.es, regs.fs, regs.gs, regs.ss]) expect(seg).toEqual(flatData);
  });

  it('has an unusable LDTR, a usable busy TSS in TR, and an empty IDTR', () => {
    expect(regs.ldtr.access & 0x10000).toBe(0x10000);
    expect(regs.tr).toEqual({ selector: 0, base: 0n, limit: 0x67, access: 0x8b });
    expect(regs.idtr).toEqual({ base: 0n, limit: 0 });
  });

  it('points GDTR at a written GDT whose descriptors match the loaded segments', () => {
    expect(regs.gdtr).toEqual({ base: 0x7000n, limit: 31 });
    const memory = guestMemory(plan, MEMORY);
    expect(memory.readBigUInt64LE(0x7000)).toBe(0n);
    expect(descriptorAt(memory, 0x7000, 0x08)).toEqual({
      base: 0n,
      limit: 0xffffffff,
      access: 0xc09b,
    });
    expect(descriptorAt(memory, 0x7000, 0x10)).toEqual({
      base: 0n,
      limit: 0xffffffff,
      access: 0xc093,
    });
    expect(descriptorAt(memory, 0x7000, 0x18).access).toBe(0xa09b);
    expect(memory.readBigUInt64LE(0x7008)).toBe(0x00cf9b000000ffffn);
    expect(memory.readBigUInt64LE(0x7010)).toBe(0x00cf93000000ffffn);
    expect(memory.readBigUInt64LE(0x7018)).toBe(0x00af9b000000ffffn);
  });

  it('starts the FPU in the FNINIT state with all x87 registers tagged empty', () => {
    expect(regs.fpu.fcw).toBe(0x37f);
    expect(regs.fpu.fsw).toBe(0);
    expect(regs.fpu.ftw).toBe(0xffff);
    expect(regs.fpu.mxcsr).toBe(0x1f80);
    expect(regs.fpu.st).toHaveLength(8);
    expect(regs.fpu.xmm).toHaveLength(16);
    expect(regs.fpu.st.every((r) => r.length === 10 && r.every((b) => b === 0))).toBe(true);
    expect(regs.fpu.xmm.every((r) => r.length === 16 && r.every((b) => b === 0))).toBe(true);
  });

  it('writes no page tables', () => {
    expect(plan.writes.some((w) => w.gpa < 0x7000)).toBe(false);
  });
});

describe('ELF64 initial vCPU state', () => {
  const plan = elf64Plan();
  const regs = plan.bsp;

  it('enters 64-bit long mode with paging on the loader tables', () => {
    expect(plan.format).toBe('elf64');
    expect(regs.cr0).toBe(0x80010033n); // PE | MP | ET | NE | WP | PG
    expect(regs.cr4).toBe(0x620n); // PAE | OSFXSR | OSXMMEXCPT
    expect(regs.efer).toBe(0x500n); // LME | LMA
    expect(regs.cr3).toBe(0x1000n);
  });

  it('starts at e_entry with the info block in RDI/RBX, the magic in RSI/RAX and a stack', () => {
    expect(regs.rip).toBe(0x200010n);
    expect(regs.rdi).toBe(0x90000n);
    expect(regs.rsi).toBe(0x2badb002n);
    expect(regs.rbx).toBe(0x90000n);
    expect(regs.rax).toBe(0x2badb002n);
    expect(regs.rsp).toBe(0x8fff0n);
    expect(regs.rflags).toBe(0x2n);
  });

  it('uses a 64-bit code segment at 0x08 and flat data at 0x10', () => {
    expect(regs.cs).toEqual({ selector: 0x08, base: 0n, limit: 0xffffffff, access: 0xa09b });
    for (const seg of [regs.ds, regs.es, regs.fs, regs.gs, regs.ss]) expect(seg).toEqual(flatData);
    expect(regs.tr.access).toBe(0x8b);
    expect(regs.ldtr.access & 0x10000).toBe(0x10000);
  });

  it('writes a GDT whose slot 0x08 is the 64-bit code segment and 0x18 the 32-bit one', () => {
    const memory = guestMemory(plan, MEMORY);
    expect(regs.gdtr).toEqual({ base: 0x7000n, limit: 31 });
    expect(descriptorAt(memory, 0x7000, 0x08)).toEqual({
      base: 0n,
      limit: 0xffffffff,
      access: 0xa09b,
    });
    expect(descriptorAt(memory, 0x7000, 0x10)).toEqual({
      base: 0n,
      limit: 0xffffffff,
      access: 0xc093,
    });
    expect(descriptorAt(memory, 0x7000, 0x18)).toEqual({
      base: 0n,
      limit: 0xffffffff,
      access: 0xc09b,
    });
  });

  it('gives a fresh register file per plan (no shared mutable state)', () => {
    const other = elf64Plan();
    other.bsp.cs.limit = 0;
    other.bsp.fpu.st[0][0] = 1;
    expect(elf64Plan().bsp.cs.limit).toBe(0xffffffff);
    expect(elf64Plan().bsp.fpu.st[0][0]).toBe(0);
  });
});
