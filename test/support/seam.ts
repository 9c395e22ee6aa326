import type { RegisterFile } from '../../lib/vmm/registers';
import type { BootedGuest } from './emu_guest';

// Driving one booted guest through the Vmm seam, as the backend tests do.

/** Pauses a running vCPU and waits for its 'paused' stop. */
export async function pause(g: BootedGuest, vcpu = 0): Promise<void> {
  const stopped = g.nextStop();
  expect(g.vmm.pause(vcpu)).toBe(true);
  await expect(stopped).resolves.toMatchObject({ vcpu, reason: 'paused' });
}

/** Steps vCPU 0 one instruction; resolves with where it stopped (= its rip). */
export async function step(g: BootedGuest, maskInterrupts = true): Promise<bigint> {
  const stopped = g.nextStop();
  g.vmm.resume(0, { step: true, maskInterrupts });
  const stop = await stopped;
  expect(stop.reason).toBe('step');
  expect(g.vmm.getRegisters(0).rip).toBe(stop.rip);
  return stop.rip;
}

/** Runs vCPU 0 to an int3 planted at `address` (identity-mapped), then removes it. */
export async function runTo(g: BootedGuest, address: bigint, timeoutMs?: number): Promise<void> {
  const gpa = Number(address);
  const original = g.vmm.readPhysical(gpa, 1);
  g.vmm.writePhysical(gpa, Buffer.from([0xcc]));
  g.vmm.setBreakpointExits(true);
  const stopped = g.nextStop(timeoutMs);
  g.vmm.resume(0);
  const stop = await stopped;
  g.vmm.writePhysical(gpa, original);
  expect(stop).toMatchObject({ vcpu: 0, reason: 'breakpoint', rip: address });
}

/** A 64-bit value of guest-physical memory. */
export function readU64(g: BootedGuest, address: bigint): bigint {
  return g.vmm.readPhysical(Number(address), 8).readBigUInt64LE();
}

/**
 * Gives every register class a distinctive value a backend must keep
 * (64-bit long-mode state, so every field is architecturally meaningful).
 */
export function scribbleRegisters(regs: RegisterFile): void {
  const names = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp'] as const;
  names.forEach((name, i) => (regs[name] = 0x1111111111111111n * BigInt(i + 1)));
  regs.r8 = 0x8000000000000008n;
  regs.r15 = 0xfedcba9876543210n;
  regs.rip = 0x101234n;
  regs.rflags = 0x246n;
  regs.cr0 = 0x80010033n;
  regs.cr2 = 0xdeadbeef000n;
  regs.cr3 = 0x5000n;
  regs.cr4 = 0x6a0n;
  regs.cr8 = 5n;
  regs.efer = 0xd01n;
  regs.kernelGsBase = 0xffff800000001000n;
  regs.dr0 = 0x100000n;
  regs.dr1 = 0x200000n;
  regs.dr2 = 0x300000n;
  regs.dr3 = 0x400000n;
  regs.dr6 = 0xffff0ff1n;
  regs.dr7 = 0x400n;
  regs.cs = { selector: 0x08, base: 0n, limit: 0xffffffff, access: 0xa09b };
  regs.fs = { selector: 0x2b, base: 0x7f0012345000n, limit: 0xfffff, access: 0xc0f3 };
  regs.gs = { selector: 0x10, base: 0xffff888000000000n, limit: 0xffffffff, access: 0xc093 };
  regs.tr = { selector: 0x40, base: 0x123000n, limit: 0x67, access: 0x8b };
  regs.gdtr = { base: 0x7000n, limit: 0x3f };
  regs.idtr = { base: 0x8000n, limit: 0xfff };
  regs.fpu.fcw = 0x27f;
  regs.fpu.mxcsr = 0x1fa0;
  regs.fpu.st[0] = Buffer.from('00000000000000803fff', 'hex'); // 1.0
  regs.fpu.xmm[0] = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  regs.fpu.xmm[15] = Buffer.alloc(16, 0x5a);
}
