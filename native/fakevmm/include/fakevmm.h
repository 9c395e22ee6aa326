/*
 * Fake vmm (Linux) EXTENSIONS: calls that FreeBSD's libvmmapi does not have.
 * Code that must also build against the real libvmmapi uses these only under
 * VMM_FAKE_VMM.
 */
#ifndef FAKEVMM_FAKEVMM_H
#define FAKEVMM_FAKEVMM_H

#include <vmmapi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Upper bound on vCPUs per VM (vm_vcpu_open ids are 0 .. FAKEVMM_MAXCPU-1). */
#define FAKEVMM_MAXCPU 16

/* Local APIC timer input clock, in Hz (after the divide configuration). */
#define FAKEVMM_LAPIC_BUS_HZ 100000000ull

/* x87 / SSE state. st[i] is ST(i) (stack-relative), 10 bytes, little endian
 * (64-bit significand then 16-bit sign/exponent). ftw is the full 16-bit tag
 * word (2 bits per physical register; 3 = empty). */
struct fakevmm_fpu {
  uint8_t st[8][10];
  uint16_t fcw;
  uint16_t fsw;
  uint16_t ftw;
  uint16_t fop;
  uint64_t fip;
  uint16_t fcs;
  uint64_t fdp;
  uint16_t fds;
  uint8_t xmm[16][16];
  uint32_t mxcsr;
};

/* Read / write the FPU and SSE state. Like vm_get_register: only while the
 * vCPU is outside vm_run (-1/EBUSY otherwise). */
int vm_get_fpu_state(struct vcpu* vcpu, struct fakevmm_fpu* fpu);
int vm_set_fpu_state(struct vcpu* vcpu, const struct fakevmm_fpu* fpu);

/* The host wrote guest memory [gpa, gpa+len) that may hold code that already
 * ran (a software breakpoint, a loaded image). Every vCPU drops the code it
 * translated from those bytes before it next executes guest code. Callable
 * from any thread, at any time. */
void vm_code_modified(struct vmctx* ctx, uint64_t gpa, size_t len);

/* Debug slots for a debugger: bhyve has no call for hardware breakpoints or
 * watchpoints, so the fake offers its own. Four per vCPU, like DR0-DR3 (and
 * separate from the guest's own debug registers). An execute slot stops the
 * vCPU before the instruction at `gla` (a linear address, as DR0-DR3 hold);
 * a data slot stops it after the instruction that read (READ), wrote (WRITE)
 * or did either (ACCESS) any of the `length` bytes (1, 2, 4 or 8, aligned)
 * at `gla`: rip is past that instruction (for a REP string instruction, past
 * that iteration), as x86 reports data breakpoints. Unlike x86, READ alone
 * is exact. Both are reported as VM_EXITCODE_DB with inst_length 0;
 * vm_get_debug_status says which slots hit.
 *
 * Data slots are watched where `gla` maps in guest-physical memory at the
 * vCPU's entry into the emulator (every time slice), because Unicorn's memory
 * hooks see physical addresses: an access through another mapping of the
 * same bytes also hits; a `gla` that is not mapped watches nothing until it
 * is. Callable from any thread; in effect from the vCPU's next entry. */
#define FAKEVMM_DEBUG_SLOTS 4
enum fakevmm_debug_kind {
  FAKEVMM_DEBUG_EXEC = 0,
  FAKEVMM_DEBUG_WRITE = 1,
  FAKEVMM_DEBUG_READ = 2,
  FAKEVMM_DEBUG_ACCESS = 3,
};
struct fakevmm_debug_slot {
  int enabled;
  int kind; /* enum fakevmm_debug_kind */
  uint64_t gla;
  int length; /* data slots: 1, 2, 4, 8; ignored for EXEC */
};
/* -1/EINVAL for a bad kind or length or an unaligned data slot. */
int vm_set_debug_slots(struct vcpu* vcpu, const struct fakevmm_debug_slot* slots, int count);

/* After vm_run returned VM_EXITCODE_DB (on the vCPU's thread): `hits` has
 * bit i set for each slot i that hit, as DR6's B0-B3 (0: the guest's own
 * DR0-DR3 hit instead); `access` has FAKEVMM_ACCESS_READ and/or
 * FAKEVMM_ACCESS_WRITE for the accesses a data slot saw. */
#define FAKEVMM_ACCESS_READ 1
#define FAKEVMM_ACCESS_WRITE 2
struct fakevmm_debug_status {
  uint32_t hits;
  uint32_t access;
};
int vm_get_debug_status(struct vcpu* vcpu, struct fakevmm_debug_status* status);

/* Range stepping (gdb's vCont;r): while VM_CAP_MTRAP_EXIT is on, a step
 * does not end at an instruction boundary whose rip is in [start, end); it
 * ends with VM_EXITCODE_MTRAP at the first boundary outside it, or with any
 * other exit as a step does (breakpoint, debug slot, vm_suspend_cpu). rip is
 * taken as linear address minus the CS base at entry. start >= end: plain
 * steps (the default). On the vCPU's own thread, before vm_run. */
int vm_set_step_range(struct vcpu* vcpu, uint64_t start, uint64_t end);

/* A debugger's step over its own software breakpoint, without dropping
 * translated code: the host has written the original byte back over the
 * 0xCC directly, without vm_code_modified, and will write the 0xCC back the
 * same way after the step. While on, the vCPU's steps (VM_CAP_MTRAP_EXIT)
 * run from a set of translated code of their own, only ever built with the
 * original byte there, so the code the vCPU built from the 0xCC stays
 * valid, and the next step over the same breakpoint translates nothing
 * either. A guest write to the byte drops code from every set, as any
 * write to code does. Only with no other vCPU running (one that ran with
 * the original byte would keep code built from it). Off (0) after the
 * step. On the vCPU's own thread, before vm_run. */
int vm_set_step_over(struct vcpu* vcpu, int on);

/* A time budget for the vCPU's next vm_run calls: each returns
 * VM_EXITCODE_BOGUS (rip where the vCPU stands, inst_length 0; bhyve's exit
 * for "nothing to handle, run again") once it has run `usec` microseconds
 * without another exit. The per-VM timer that ends it ticks every
 * millisecond, so a run may overrun its budget by up to that. 0: no budget
 * (the default). For a host that runs a vCPU for a while on a thread with
 * other work to do, then hands it to a thread of its own. Before vm_run, on
 * the thread that calls it. */
int vm_set_run_budget(struct vcpu* vcpu, uint64_t usec);

/* Observation for tests: the number of times the vCPU entered the emulator
 * (uc_emu_start calls) and the number of guest interrupts (external and
 * injected) delivered through the IDT/IVT. */
struct fakevmm_stats {
  uint64_t emu_entries;
  uint64_t interrupts_delivered;
};
int vm_get_fake_stats(struct vcpu* vcpu, struct fakevmm_stats* stats);

#ifdef __cplusplus
}
#endif

#endif /* FAKEVMM_FAKEVMM_H */
