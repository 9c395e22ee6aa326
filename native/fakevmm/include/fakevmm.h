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
 * ran (a software breakpoint, a loaded image). Every vCPU drops its
 * translated code before it next executes guest code. Callable from any
 * thread, at any time. */
void vm_code_modified(struct vmctx* ctx, uint64_t gpa, size_t len);

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
