import {
  CONTROL_NAMES,
  GPR_NAMES,
  initialFpuState,
  type ControlName,
  type GprName,
  type RegisterFile,
  type SegmentRegister,
} from '../vmm/registers';
import {
  ACCESS_UNUSABLE,
  BOOT_CODE_SELECTOR,
  DATA,
  DATA_SELECTOR,
  CODE64,
  gdtFor,
  gdtr,
  LINUX_BOOT_CS,
  LINUX_BOOT_DS,
  segmentRegister,
} from './descriptors';
import { BOOT_INFO_ADDR, BOOT_STACK_POINTER, PML4_ADDR, ZERO_PAGE_ADDR } from './layout';
import { MULTIBOOT_BOOTLOADER_MAGIC } from './multiboot';

const CR0_PE = 1n << 0n;
const CR0_MP = 1n << 1n;
const CR0_ET = 1n << 4n;
const CR0_NE = 1n << 5n;
const CR0_WP = 1n << 16n;
const CR0_PG = 1n << 31n;
const CR4_PAE = 1n << 5n;
const CR4_OSFXSR = 1n << 9n;
const CR4_OSXMMEXCPT = 1n << 10n;
const EFER_LME = 1n << 8n;
const EFER_LMA = 1n << 10n;
/** Bit 1 of RFLAGS is reserved and always reads 1. */
const RFLAGS_RESERVED = 0x2n;

/**
 * TR must be usable for VM entry: a busy 32/64-bit TSS (type 11) works in
 * both protected and long mode. Base 0 and the minimal 104-byte limit; the
 * kernel loads its own TSS before it can need one.
 */
const BOOT_TR: SegmentRegister = { selector: 0, base: 0n, limit: 0x67, access: 0x8b };
const UNUSABLE_LDTR: SegmentRegister = { selector: 0, base: 0n, limit: 0, access: ACCESS_UNUSABLE };

/**
 * Every register zero except those with architectural non-zero values at
 * reset or after FNINIT: DR6, DR7, RFLAGS bit 1, FCW, MXCSR, and the full
 * tag word 0xFFFF (every x87 register empty; the abridged FXSAVE form of the
 * same state would be 0).
 */
function baseRegisterFile(): RegisterFile {
  const zeroSegment = (): SegmentRegister => ({ selector: 0, base: 0n, limit: 0, access: 0 });
  const zeros = Object.fromEntries(
    [...GPR_NAMES, ...CONTROL_NAMES].map((name) => [name, 0n]),
  ) as Record<GprName | ControlName, bigint>;
  return {
    ...zeros,
    rflags: RFLAGS_RESERVED,
    dr6: 0xffff0ff0n,
    dr7: 0x400n,
    es: zeroSegment(),
    cs: zeroSegment(),
    ss: zeroSegment(),
    ds: zeroSegment(),
    fs: zeroSegment(),
    gs: zeroSegment(),
    ldtr: { ...UNUSABLE_LDTR },
    tr: { ...BOOT_TR },
    gdtr: { base: 0n, limit: 0 },
    idtr: { base: 0n, limit: 0 },
    fpu: initialFpuState(),
  };
}

function flatSegments(regs: RegisterFile, mode: 'protected' | 'long'): void {
  const gdt = gdtFor(mode);
  regs.cs = segmentRegister(BOOT_CODE_SELECTOR, gdt[BOOT_CODE_SELECTOR / 8]);
  for (const name of ['ds', 'es', 'fs', 'gs', 'ss'] as const) {
    regs[name] = segmentRegister(DATA_SELECTOR, DATA);
  }
  regs.gdtr = gdtr(gdt);
}

/**
 * The Multiboot v1 machine state (spec section 3.2): 32-bit protected mode,
 * paging off, flat 4 GiB segments, EAX = magic, EBX = info block. ESP and
 * IDTR are left 0: the spec leaves them undefined and the kernel sets its own.
 */
export function multibootEntryState(entry: bigint): RegisterFile {
  const regs = baseRegisterFile();
  flatSegments(regs, 'protected');
  regs.cr0 = CR0_PE | CR0_ET;
  regs.rip = entry;
  regs.rax = BigInt(MULTIBOOT_BOOTLOADER_MAGIC);
  regs.rbx = BigInt(BOOT_INFO_ADDR);
  return regs;
}

/**
 * 64-bit long mode on the loader's identity page tables, with SSE usable
 * (OSFXSR, OSXMMEXCPT) so compiled C runs from the first instruction. The
 * info block goes in RDI and the magic in RSI, the first two SysV arguments
 * of `kmain(info, magic)`; RBX and RAX hold the same two values, as a
 * Multiboot kernel would find them.
 */
function longMode(regs: RegisterFile, entry: bigint): void {
  regs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
  regs.cr3 = BigInt(PML4_ADDR);
  regs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
  regs.efer = EFER_LME | EFER_LMA;
  regs.rip = entry;
  regs.rsp = BigInt(BOOT_STACK_POINTER);
}

export function longModeEntryState(entry: bigint): RegisterFile {
  const regs = baseRegisterFile();
  flatSegments(regs, 'long');
  longMode(regs, entry);
  regs.rdi = BigInt(BOOT_INFO_ADDR);
  regs.rsi = BigInt(MULTIBOOT_BOOTLOADER_MAGIC);
  regs.rbx = regs.rdi;
  regs.rax = regs.rsi;
  return regs;
}

/**
 * Linux's 64-bit boot protocol (Documentation/arch/x86/boot.rst): long mode
 * on identity page tables, CS = __BOOT_CS (flat 64-bit code), DS/ES/SS (and
 * FS/GS) = __BOOT_DS (flat data) from the loader's GDT, interrupts off, RSI
 * = the physical address of boot_params. The kernel sets up its own stack;
 * RSP points at the loader's boot stack all the same.
 */
export function linuxEntryState(entry: bigint): RegisterFile {
  const regs = baseRegisterFile();
  regs.cs = segmentRegister(LINUX_BOOT_CS, CODE64);
  for (const name of ['ds', 'es', 'fs', 'gs', 'ss'] as const) {
    regs[name] = segmentRegister(LINUX_BOOT_DS, DATA);
  }
  regs.gdtr = gdtr(gdtFor('linux'));
  longMode(regs, entry);
  regs.rsi = BigInt(ZERO_PAGE_ADDR);
  return regs;
}
