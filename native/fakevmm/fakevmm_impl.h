// Fake vmm: private state shared by the shim's source files.
//
// Locking: VmCtx::mu guards every field marked [mu] (VM-wide device state,
// vCPU run-state flags, the debug set). A vCPU's Unicorn engine is touched
// only by the thread inside vm_run() for that vCPU, or by register calls
// while the vCPU is outside vm_run(); VmCtx::run_* serialises guest
// execution across engines (one engine executes guest code at a time).
#ifndef FAKEVMM_IMPL_H
#define FAKEVMM_IMPL_H

#include <unicorn/unicorn.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "fakevmm.h"
#include "vmmapi.h"

struct vmctx;

namespace fakevmm {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kLowmemLimit = 3ull << 30;
constexpr uint64_t kHighmemBase = 4ull << 30;
constexpr uint64_t kLapicBase = 0xFEE00000ull;
constexpr uint64_t kPageSize = 4096;

// 8259A pair (master at 0x20, slave at 0xA0).
struct Pic8259 {
  uint8_t irr = 0, isr = 0, imr = 0xff;
  uint8_t vector_base = 0;
  uint8_t init_step = 0;  // 0: ready; 2..4: expecting ICW2..ICW4
  bool icw4_needed = false, single = false, auto_eoi = false;
  bool read_isr = false;
};

// One 8254 channel. Channel 0 raises IRQ0; channel 2's gate and output are
// bits 0 and 5 of port 0x61 (Linux calibrates the TSC against it).
struct Pit8254 {
  uint16_t reload = 0;  // 0 means 65536
  uint8_t mode = 0;
  uint8_t access = 3;  // 1 lobyte, 2 hibyte, 3 lo then hi
  bool write_hi_next = false, read_hi_next = false;
  bool armed = false;   // a count was written (and, for channel 2, the gate is high)
  bool loaded = false;  // a count was written since the mode was set
  Clock::time_point start;
  uint64_t ticks_seen = 0;
  bool latched = false;
  uint16_t latch_value = 0;
};

struct Lapic {
  uint32_t tpr = 0, svr = 0xff, ldr = 0, dfr = 0xffffffff, esr = 0;
  uint32_t icr_lo = 0, icr_hi = 0;
  uint32_t lvt[6] = {0x10000, 0x10000, 0x10000, 0x10000, 0x10000, 0x10000};  // timer..error
  uint32_t timer_initial = 0, timer_divide = 0;
  Clock::time_point timer_start;
  uint64_t timer_periods_seen = 0;
  bool timer_running = false;
  uint32_t irr[8] = {}, isr[8] = {};
};

using VmCtx = ::vmctx;

// A write to guest-physical memory that may hold code: by the host (writer
// -1), or by a vCPU's guest code to a page another engine has code on.
struct CodeWrite {
  uint64_t gpa = 0;
  uint64_t len = 0;
  int writer = -1;  // that vCPU's own blocks were dropped as it wrote
};
constexpr size_t kCodeWriteLog = 64;

// An exit the hooks decided on while the engine was running.
struct PendingExit {
  bool valid = false;
  vm_exit exit{};
  bool set_rip = false;  // move the engine's RIP to exit.rip
};

}  // namespace fakevmm

struct vcpu {
  fakevmm::VmCtx* ctx = nullptr;
  int id = 0;
  uc_engine* uc = nullptr;
  uc_hook step_hook = 0;
  bool step_hook_installed = false;

  // Run state [mu].
  bool in_run = false;  // a thread is inside vm_run for this vCPU
  bool in_emu = false;  // inside uc_emu_start
  bool kick = false;    // leave the emulator as soon as possible
  bool active = false;
  bool halted = false;  // executed HLT, waiting for an interrupt
  bool waiting_runlock = false;
  fakevmm::Clock::time_point slice_start;
  int caps[VM_CAP_MAX] = {};
  bool nextrip_pending = false;
  uint64_t nextrip = 0;
  bool exc_pending = false;
  int exc_vector = 0;
  bool exc_has_err = false;
  uint32_t exc_err = 0;
  bool nmi_pending = false;
  bool halted_if0 = false;     // halted with IF clear: only NMI/INIT wake it
  bool step_after_io = false;  // stepping, and the last exit was INOUT
  std::deque<vm_exit> queued_exits;
  fakevmm::Lapic lapic;
  uint64_t code_gen_seen = 0;  // ctx->code_gen when this engine last dropped stale code [mu]
  // Another engine's pages gained code since this engine last flushed its
  // TLB, which may still let writes to them past the code check.
  std::atomic<bool> tlb_stale{false};
  std::condition_variable cv;
  // Debug slots as vm_set_debug_slots left them, and the last DB exit's status.
  fakevmm_debug_slot debug_slots[FAKEVMM_DEBUG_SLOTS] = {};
  fakevmm_debug_status debug_status = {};
  // vm_set_step_range: [start, end) of rip; empty for plain steps.
  uint64_t step_range_start = 0, step_range_end = 0;
  bool step_over = false;  // vm_set_step_over
  // vm_set_run_budget, and the end of the budget of the vm_run under way
  // (which the ticker enforces; the end of time where there is none).
  uint64_t run_budget_us = 0;
  fakevmm::Clock::time_point run_deadline = fakevmm::Clock::time_point::max();

  // Used only by the thread running the engine.
  fakevmm::PendingExit pend;
  std::deque<vm_exit> pend_extra;  // OUTS elements after the first
  int step_count = 0;
  // vm_set_step_over, until the stepped-over instruction's hook: its step
  // looks blocks up in the step-over set.
  bool step_over_armed = false;
  bool step_done = false;
  bool stepping = false;
  // Range stepping in this engine run: linear [start, end) (the range plus the CS base).
  bool step_in_range = false;
  uint64_t step_linear_start = 0, step_linear_end = 0;
  bool delivered_on_entry = false;
  uint64_t emu_entries = 0, interrupts_delivered = 0;
  // Debug slots as the engine's hooks implement them now.
  struct AppliedSlot {
    fakevmm_debug_slot slot{};
    bool mapped = false;  // data slot: gla had a physical address
    uint64_t gpa = 0;
    uc_hook hooks[2] = {};
    int hook_count = 0;
  };
  AppliedSlot applied_slots[FAKEVMM_DEBUG_SLOTS];
  uc_hook boundary_hook = 0;  // every instruction, while a data slot is watched
  bool boundary_hook_installed = false;
  // Data-slot hits a memory hook saw in the instruction at watch_rip, reported
  // at the next instruction boundary; and the status of the exit pending.
  uint32_t watch_hits = 0, watch_access = 0;
  uint64_t watch_rip = 0;
  fakevmm_debug_status pend_status = {};
};

struct vmctx {
  std::string name;
  std::mutex mu;
  bool destroyed = false;

  uint8_t* mem = nullptr;
  size_t mem_len = 0, lowmem = 0, highmem = 0;
  int memflags = 0;

  vcpu* vcpus[FAKEVMM_MAXCPU] = {};
  uint16_t sockets = 1, cores = 1, threads = 1, maxcpus = FAKEVMM_MAXCPU;
  cpuset_t debug_set;
  int suspend_how = VM_SUSPEND_NONE;
  cpuset_t suspended_set;
  bool ap_init[FAKEVMM_MAXCPU] = {};  // INIT received (INIT-SIPI-SIPI)
  bool ap_sipi[FAKEVMM_MAXCPU] = {};  // STARTUP already reported

  fakevmm::Pic8259 pic[2];
  fakevmm::Pit8254 pit[3];
  uint8_t port61 = 0;          // NMI status and control: bit 0 channel 2's gate, bit 1 speaker data
  uint16_t isa_irq_level = 0;  // lines driven through vm_isa_assert_irq, bit n = IRQ n

  // Guest code runs on at most run_slots vCPUs at a time (the host CPUs
  // this process may use): `running` of them hold a slot, and the others
  // queue in run_queue (FIFO) and take turns by time slice [mu]. With more
  // than one slot and more than one vCPU, engines translate locked
  // instructions as host atomics (fvi_set_thread_parallel).
  int run_slots = 1;
  int running = 0;
  int vcpu_count = 0;
  std::deque<int> run_queue;
  std::condition_variable run_cv;

  // Host writes to guest code (vm_code_modified), as a ring of the latest
  // kCodeWriteLog: code_gen counts them, and the write numbered g is
  // code_writes[g % kCodeWriteLog]. Each vCPU drops the translated code over
  // the writes it has not seen before it next runs, or all of it when the
  // ring has moved past them [mu].
  uint64_t code_gen = 0;
  fakevmm::CodeWrite code_writes[fakevmm::kCodeWriteLog];

  // Which engines have translated code from each page of guest RAM (bit n:
  // vCPU n), indexed by the page's offset in `mem`: see code_pages.cc. Set
  // and cleared by each engine's thread, atomically.
  std::unique_ptr<std::atomic<uint16_t>[]> code_pages;
  size_t code_page_count = 0;

  std::thread ticker;
  bool ticker_started = false, ticker_stop = false;
  std::condition_variable ticker_cv;

  vmctx() {
    CPU_ZERO(&debug_set);
    CPU_ZERO(&suspended_set);
  }
};

namespace fakevmm {

// vm.cc
bool map_ram_into(VmCtx* ctx, uc_engine* uc);
uint8_t* gpa_ptr(VmCtx* ctx, uint64_t gpa, size_t len);
void start_ticker(VmCtx* ctx);
void drop_stale_code(vcpu* v);  // ctx->mu held, on the vCPU's thread, outside uc_emu_start
int host_cpus();                // the CPUs this process may run on: the run slots

// tsc_frequency.cc: CPUID 0x15 with the guest TSC's rate (1 GHz).
bool offer_tsc_frequency(vcpu* v);

// code_pages.cc
void init_code_pages(VmCtx* ctx);  // once guest RAM is set up [mu]
void attach_code_record(vcpu* v);  // the engine reports its code pages and writes
// After dropping blocks over `len` bytes at `offset` in ctx->mem (or all of
// them): the pages where this engine has no block left stop sending other
// engines' writes through the code check.
void forget_own_code(vcpu* v, size_t offset, size_t len);
void forget_all_own_code(vcpu* v);
// Before the engine runs: a TLB flush when other engines gained code pages.
void refresh_code_tlb(vcpu* v);

// run.cc
void kick_locked(vcpu* v);  // ctx->mu held
bool install_hooks(vcpu* v);

// regs.cc
void reset_registers(vcpu* v);

// atpic.cc (ctx->mu held)
bool atpic_port(VmCtx* ctx, uint16_t port, bool in, int bytes, uint32_t* val);
void atpit_update(VmCtx* ctx, Clock::time_point now);
int atpic_pending_vector(VmCtx* ctx);  // -1 if none
// An ISA line driven by a device: a rising edge requests the IRQ (edge-triggered, as a PC's PICs).
void atpic_set_irq_level(VmCtx* ctx, int irq, bool level);
void atpic_acknowledge(VmCtx* ctx);

// lapic.cc (ctx->mu held unless noted)
uint64_t lapic_read(vcpu* v, uint32_t offset);
void lapic_write(vcpu* v, uint32_t offset, uint32_t value);  // may queue exits / kick
void lapic_timer_update(vcpu* v, Clock::time_point now);
int lapic_pending_vector(vcpu* v);  // -1 if none
void lapic_acknowledge(vcpu* v, int vector);
void lapic_set_irr(vcpu* v, int vector);
Clock::time_point lapic_next_deadline(vcpu* v, Clock::time_point fallback);

// gla2gpa.cc
int walk(vcpu* v, const vm_guest_paging* paging, uint64_t gla, int prot, uint64_t* gpa, int* fault);

}  // namespace fakevmm

#endif  // FAKEVMM_IMPL_H
