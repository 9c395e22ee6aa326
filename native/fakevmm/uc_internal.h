// Fake vmm: the few things Unicorn's public API cannot do, implemented in
// uc_internal.c against Unicorn's own (QEMU) x86 CPU state. Private header.
#ifndef FAKEVMM_UC_INTERNAL_H
#define FAKEVMM_UC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <unicorn/unicorn.h>

#ifdef __cplusplus
extern "C" {
#endif

// Segment-like registers, numbered as QEMU numbers the six segment registers.
enum fvi_seg_index {
  FVI_ES = 0,
  FVI_CS = 1,
  FVI_SS = 2,
  FVI_DS = 3,
  FVI_FS = 4,
  FVI_GS = 5,
  FVI_LDTR = 6,
  FVI_TR = 7,
  FVI_GDTR = 8,
  FVI_IDTR = 9,
};

struct fvi_seg {
  uint16_t selector;
  uint64_t base;
  uint32_t limit;
  uint32_t access;  // VMX access-rights layout (bit 16 = unusable)
};

void fvi_get_seg(uc_engine* uc, int which, struct fvi_seg* out);
void fvi_set_seg(uc_engine* uc, int which, const struct fvi_seg* in);

// Control registers 0, 2, 3, 4; EFER written exactly (LMA included). The
// mode-dependent decoding flags are recomputed after each write.
uint64_t fvi_get_cr(uc_engine* uc, int n);
void fvi_set_cr(uc_engine* uc, int n, uint64_t val);
uint64_t fvi_get_efer(uc_engine* uc);
void fvi_set_efer(uc_engine* uc, uint64_t val);

// Debug registers 0-3, 6, 7 (writes install hardware breakpoints as the
// guest's own MOV DR would).
uint64_t fvi_get_dr(uc_engine* uc, int n);
void fvi_set_dr(uc_engine* uc, int n, uint64_t val);

// What CPUID says of the vCPU: its initial APIC ID (leaf 1 EBX[31:24], leaf
// 0xB EDX; Unicorn reports 0 on every engine), the cores and threads of its
// package (leaves 1, 4 and 0xB), and no x2APIC or TSC-deadline timer, which
// the fake vmm's xAPIC does not have (Unicorn's Haswell model claims both,
// and a Linux guest waited seconds on deadline timers that never fired).
void fvi_set_cpu_identity(uc_engine* uc, uint32_t apic_id, int cores, int threads);

uint64_t fvi_get_kgs_base(uc_engine* uc);
void fvi_set_kgs_base(uc_engine* uc, uint64_t val);

// STI / MOV SS interrupt shadow.
int fvi_get_intr_shadow(uc_engine* uc);
void fvi_set_intr_shadow(uc_engine* uc, int on);

enum fvi_event_kind {
  FVI_EV_EXTINT = 0,  // external interrupt (no error code)
  FVI_EV_EXCEPTION,   // hardware exception (error code if has_err)
  FVI_EV_NMI,
};

// Deliver an event through the guest's IDT (or real-mode IVT), outside
// uc_emu_start. Faults while delivering become #DF; a fault while
// delivering #DF is a triple fault. Returns 0 when delivered, 1 on triple
// fault.
int fvi_deliver(uc_engine* uc, int vector, int kind, int has_err, uint32_t err);

// Inside a UC_HOOK_INTR / UC_HOOK_INSN_INVALID callback: deliver the
// exception QEMU raised (vector, error code, software-interrupt flag) to the
// guest. May not return if delivery itself faults (QEMU then raises the next
// exception, which reaches the interrupt hook again).
void fvi_deliver_current_exception(uc_engine* uc);

// Inside a callback: facts about the exception QEMU raised.
int fvi_current_exception_is_int(uc_engine* uc);
uint32_t fvi_current_error_code(uc_engine* uc);

// Inside an IN/OUT hook: abandon the current instruction (guest state is the
// state before it) and leave the emulator. The caller must already have
// called uc_emu_stop. Does not return.
void fvi_abort_instruction(uc_engine* uc);

// Ask (on) or stop asking (off) for an interrupt window: with it on, the
// next uc_emu_start returns at the first instruction boundary where the
// guest can take an external interrupt (RFLAGS.IF set, no STI/MOV SS
// shadow), so that the caller delivers it there (our Unicorn patch
// unicorn-2.1.4-interrupt-window-exit.patch). Cleared when it fires.
void fvi_set_interrupt_window(uc_engine* uc, int on);

// PAUSE ends uc_emu_start (on) or is a no-op (off), as VMX's pause-loop
// exiting (our patch unicorn-2.1.4-pause-loop-exiting.patch). Safe to call
// from another thread while the engine runs.
void fvi_set_pause_exits(uc_engine* uc, int on);

// After uc_emu_start returned: did the guest execute HLT (cleared by this
// call)? Did a triple fault stop the CPU (cleared too)?
int fvi_take_halted(uc_engine* uc);
int fvi_take_triple_fault(uc_engine* uc);

// Outside uc_emu_start, on the engine's thread: drop the translated blocks
// that cover any of `len` bytes of guest RAM at `host` (a pointer into memory
// mapped with uc_mem_map_ptr, all of it in one mapping). Unicorn's own
// uc_ctl_remove_cache takes guest-virtual addresses, which a host write to
// guest-physical memory does not have.
void fvi_invalidate_code(uc_engine* uc, void* host, size_t len);

// On this thread, translate locked instructions as host atomic operations
// (on) or as plain loads and stores (off, enough while no other engine runs
// at the same time): our patch unicorn-2.1.4-parallel-atomics.patch.
void fvi_set_thread_parallel(int on);

// Raise the highest basic CPUID leaf to at least `level` (the leaves in
// between read as zeros, as QEMU answers any leaf it does not model).
void fvi_raise_cpuid_level(uc_engine* uc, uint32_t level);

// The embedder's record of code across engines (our patch
// unicorn-2.1.4-shared-code-pages.patch; see uc_priv.h there): `added` when
// a page of guest RAM gains its first block in this engine, `elsewhere`
// whether another engine has blocks on a page (its writes then take the
// self-modifying-code path), `written` before this engine writes to a page
// that holds code. Host pointers into RAM mapped with uc_mem_map_ptr.
typedef void (*fvi_code_added_fn)(void* opaque, void* host);
typedef bool (*fvi_code_elsewhere_fn)(void* opaque, void* host);
typedef void (*fvi_code_written_fn)(void* opaque, void* host, unsigned size);
void fvi_set_code_record(uc_engine* uc, void* opaque, fvi_code_added_fn added,
                         fvi_code_elsewhere_fn elsewhere, fvi_code_written_fn written);

// Whether this engine has translated blocks from the guest RAM page at `host`.
int fvi_page_has_own_code(uc_engine* uc, void* host);

// Forget every guest-virtual translation of the engine's TLB, so that the
// next access to each page looks again at whether it holds code.
void fvi_flush_tlb(uc_engine* uc);

// Put the engine's translated blocks in the single-step set (on) or the
// ordinary set (off). Each set finds only its own blocks, so blocks built
// with a step hook compiled in and blocks built without one both stay cached
// and neither needs a flush when stepping starts or stops.
void fvi_set_step_blocks(uc_engine* uc, int on);

// A third set, for steps over a debugger's breakpoint (vm_set_step_over):
// with the step set's key, blocks looked up by the steps that follow are
// those of the step-over set (on) or the plain step set (off). A block in
// it is only ever built and run with the original byte back under the
// breakpoint, so neither that byte nor the 0xCC needs the code built from
// the other dropped when they swap.
void fvi_set_step_over_blocks(uc_engine* uc, int on);

// Make Unicorn forget which translated blocks `hook` was compiled into, so
// that uc_hook_del leaves them cached (uc_hook_del drops every block the
// hook instrumented, and with it every other block on the same guest
// pages). Only for a hook whose blocks only ever run while an equivalent
// hook is installed.
void fvi_forget_hook_blocks(uc_hook hook);

#ifdef __cplusplus
}
#endif

#endif  // FAKEVMM_UC_INTERNAL_H
