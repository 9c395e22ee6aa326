// Fake vmm: vm_run and everything that happens while a vCPU runs: the
// Unicorn hooks (I/O ports, exceptions, single-step), event delivery,
// halting, pausing (the debug set), VM suspend, and the run lock that lets
// one engine execute guest code at a time.
//
// Exit rules (see also fakevmm.h and the report in the repository docs):
//   - exit.rip is the guest RIP of the instruction the exit is about; when
//     exit.inst_length > 0 the next vm_run resumes at rip + inst_length unless
//     user space wrote RIP in between (bhyve's nextrip rule).
//   - INOUT: the IN/OUT has not executed (rip = its address, inst_length = its
//     length). For IN, user space merges the value into RAX itself and calls
//     vm_set_register(RAX) before the next vm_run.
//   - BPT: rip = address of the int3, inst_length = bpt.inst_length = 1.
//   - HLT (VM_CAP_HALT_EXIT): rip = address of the hlt, inst_length = 1.
//   - MTRAP, DEBUG, DB, SPINUP_AP, SUSPENDED: inst_length = 0, rip = where the
//     vCPU will continue.
#include <errno.h>
#include <sys/mman.h>

#include <cstring>

#include "fakevmm_impl.h"
#include "uc_internal.h"

using fakevmm::Clock;
using fakevmm::VmCtx;

namespace {

template <typename T>
T fail(int err, T value) {
  errno = err;
  return value;
}

uint64_t read_reg(uc_engine* uc, int reg) {
  uint64_t v = 0;
  uc_reg_read(uc, reg, &v);
  return v;
}

void write_reg(uc_engine* uc, int reg, uint64_t v) { uc_reg_write(uc, reg, &v); }

// The paging state the vCPU is in now, for reading guest code.
vm_guest_paging current_paging(vcpu* v) {
  vm_guest_paging pg{};
  uint64_t cr0 = fvi_get_cr(v->uc, 0), cr4 = fvi_get_cr(v->uc, 4), efer = fvi_get_efer(v->uc);
  pg.cr3 = fvi_get_cr(v->uc, 3);
  fvi_seg ss;
  fvi_get_seg(v->uc, FVI_SS, &ss);
  pg.cpl = static_cast<int>((ss.access >> 5) & 3);
  if (!(cr0 & 0x80000000ull)) {
    pg.paging_mode = PAGING_MODE_FLAT;
  } else if (efer & 0x400) {
    pg.paging_mode = (cr4 & (1u << 12)) ? PAGING_MODE_64_LA57 : PAGING_MODE_64;
  } else if (cr4 & 0x20) {
    pg.paging_mode = PAGING_MODE_PAE;
  } else {
    pg.paging_mode = PAGING_MODE_32;
  }
  pg.cpu_mode = (cr0 & 1) ? CPU_MODE_PROTECTED : CPU_MODE_REAL;
  return pg;
}

// Read up to n bytes of guest code at CS:rip; returns how many were readable.
size_t read_code(vcpu* v, uint64_t rip, uint8_t* buf, size_t n) {
  fvi_seg cs;
  fvi_get_seg(v->uc, FVI_CS, &cs);
  vm_guest_paging pg = current_paging(v);
  pg.cpl = 0;  // a read for the host, not a guest access check
  size_t got = 0;
  while (got < n) {
    uint64_t la = cs.base + rip + got, gpa = 0;
    int fault = 0;
    if (fakevmm::walk(v, &pg, la, PROT_READ, &gpa, &fault) != 0 || fault) {
      break;
    }
    uint8_t* p = fakevmm::gpa_ptr(v->ctx, gpa, 1);
    if (p == nullptr) {
      break;
    }
    buf[got++] = *p;
  }
  return got;
}

struct IoInsn {
  int length = 0;
  bool string = false;
  bool rep = false;
};

// Decode the port-I/O instruction at rip (prefixes, then the opcode).
IoInsn decode_io(vcpu* v, uint64_t rip) {
  uint8_t b[15];
  size_t n = read_code(v, rip, b, sizeof(b));
  IoInsn r;
  size_t i = 0;
  while (i < n) {
    uint8_t c = b[i];
    if (c == 0x66 || c == 0x67 || c == 0x2e || c == 0x36 || c == 0x3e || c == 0x26 || c == 0x64 ||
        c == 0x65 || c == 0xf0 || c == 0xf2 || c == 0xf3 || (c >= 0x40 && c <= 0x4f)) {
      if (c == 0xf3 || c == 0xf2) {
        r.rep = true;
      }
      i++;
      continue;
    }
    break;
  }
  if (i >= n) {
    return r;
  }
  uint8_t op = b[i];
  if (op >= 0xe4 && op <= 0xe7) {
    r.length = static_cast<int>(i) + 2;
  } else if (op >= 0xec && op <= 0xef) {
    r.length = static_cast<int>(i) + 1;
  } else if (op >= 0x6c && op <= 0x6f) {
    r.length = static_cast<int>(i) + 1;
    r.string = true;
  }
  return r;
}

void set_pending_exit(vcpu* v, const vm_exit& e, bool set_rip) {
  if (v->pend.valid) {
    v->pend_extra.push_back(e);
    return;
  }
  v->pend.valid = true;
  v->pend.exit = e;
  v->pend.set_rip = set_rip;
}

uint32_t on_in(uc_engine* uc, uint32_t port, int size, void* user) {
  vcpu* v = static_cast<vcpu*>(user);
  uint32_t val = 0xffffffffu;
  bool handled;
  {
    std::lock_guard<std::mutex> lk(v->ctx->mu);
    handled = fakevmm::atpic_port(v->ctx, static_cast<uint16_t>(port), true, size, &val);
  }
  if (handled) {
    return val;
  }
  uint64_t rip = read_reg(uc, UC_X86_REG_RIP);
  IoInsn insn = decode_io(v, rip);
  if (insn.string || insn.length == 0) {
    return 0xffffffffu;  // INS from a user-space port: not supported, reads all ones
  }
  vm_exit e{};
  e.exitcode = VM_EXITCODE_INOUT;
  e.rip = rip;
  e.inst_length = insn.length;
  e.u.inout.bytes = static_cast<uint16_t>(size);
  e.u.inout.in = 1;
  e.u.inout.port = static_cast<uint16_t>(port);
  set_pending_exit(v, e, false);
  uc_emu_stop(uc);
  fvi_abort_instruction(uc);  // the IN is not executed; RIP stays on it
  return 0;
}

void on_out(uc_engine* uc, uint32_t port, int size, uint32_t value, void* user) {
  vcpu* v = static_cast<vcpu*>(user);
  bool handled;
  {
    std::lock_guard<std::mutex> lk(v->ctx->mu);
    handled = fakevmm::atpic_port(v->ctx, static_cast<uint16_t>(port), false, size, &value);
  }
  if (handled) {
    return;
  }
  uint64_t rip = read_reg(uc, UC_X86_REG_RIP);
  IoInsn insn = decode_io(v, rip);
  if (insn.length == 0) {
    return;
  }
  vm_exit e{};
  e.exitcode = VM_EXITCODE_INOUT;
  e.rip = rip;
  e.u.inout.bytes = static_cast<uint16_t>(size);
  e.u.inout.in = 0;
  e.u.inout.port = static_cast<uint16_t>(port);
  e.u.inout.eax = value;
  if (insn.string) {
    // OUTS: the element is written now (the instruction goes on); each element
    // is reported as a plain OUT exit with inst_length 0.
    e.inst_length = 0;
    set_pending_exit(v, e, false);
    uc_emu_stop(uc);
    return;
  }
  e.inst_length = insn.length;
  set_pending_exit(v, e, false);
  uc_emu_stop(uc);
  fvi_abort_instruction(uc);
}

void on_intr(uc_engine* uc, uint32_t intno, void* user) {
  vcpu* v = static_cast<vcpu*>(user);
  bool bpt_exit;
  {
    std::lock_guard<std::mutex> lk(v->ctx->mu);
    bpt_exit = v->caps[VM_CAP_BPT_EXIT] != 0;
  }
  if (bpt_exit && intno == 3 && fvi_current_exception_is_int(uc)) {
    uint64_t rip = read_reg(uc, UC_X86_REG_RIP) - 1;  // RIP is past the int3
    vm_exit e{};
    e.exitcode = VM_EXITCODE_BPT;
    e.rip = rip;
    e.inst_length = 1;
    e.u.bpt.inst_length = 1;
    set_pending_exit(v, e, true);
    uc_emu_stop(uc);
    return;
  }
  if (bpt_exit && intno == 1 && !fvi_current_exception_is_int(uc)) {
    uint64_t dr6 = fvi_get_dr(uc, 6), dr7 = fvi_get_dr(uc, 7);
    bool exec_hit = false;
    for (int i = 0; i < 4; i++) {
      if ((dr6 & (1u << i)) && ((dr7 >> (16 + 4 * i)) & 3) == 0) {
        exec_hit = true;
      }
    }
    if (exec_hit) {
      if (!v->pend.valid) {
        v->pend_status = fakevmm_debug_status{};  // the guest's own DR0-DR3, not a debug slot
      }
      vm_exit e{};
      e.exitcode = VM_EXITCODE_DB;
      e.rip = read_reg(uc, UC_X86_REG_RIP);
      e.inst_length = 0;
      set_pending_exit(v, e, false);
      uc_emu_stop(uc);
      return;
    }
  }
  v->interrupts_delivered++;
  fvi_deliver_current_exception(uc);  // may not return (fault while delivering)
}

bool on_invalid(uc_engine* uc, void* user) {
  vcpu* v = static_cast<vcpu*>(user);
  v->interrupts_delivered++;
  fvi_deliver_current_exception(uc);  // #UD through the guest IDT
  return true;
}

void on_step(uc_engine* uc, uint64_t address, uint32_t, void* user) {
  vcpu* v = static_cast<vcpu*>(user);
  if (v->step_over_armed) {
    // The stepped-over instruction is the block just looked up: whatever the
    // step runs after it (an exception's handler) is looked up in the plain
    // step set, so the step-over set holds blocks at breakpoints only, each
    // built with its original byte back.
    v->step_over_armed = false;
    fvi_set_step_over_blocks(uc, 0);
  }
  if (++v->step_count >= 2) {
    if (v->step_in_range && address >= v->step_linear_start && address < v->step_linear_end) {
      return;  // range stepping: this boundary is inside the range, go on
    }
    v->step_done = true;
    uc_emu_stop(uc);
  }
}

bool interrupts_enabled(vcpu* v) {
  return (read_reg(v->uc, UC_X86_REG_RFLAGS) & 0x200) != 0 && !fvi_get_intr_shadow(v->uc);
}

// The external interrupt this vCPU could take now, or -1 (ctx->mu held).
int pending_interrupt(vcpu* v, bool* from_pic) {
  int vec = fakevmm::lapic_pending_vector(v);
  if (vec >= 0) {
    *from_pic = false;
    return vec;
  }
  if (v->id == 0) {
    vec = fakevmm::atpic_pending_vector(v->ctx);
    if (vec >= 0) {
      *from_pic = true;
      return vec;
    }
  }
  return -1;
}

// Take the run lock (ctx->mu held through lk). Gives up and returns false
// when the vCPU is kicked while waiting.
bool acquire_run(vcpu* v, std::unique_lock<std::mutex>& lk) {
  VmCtx* ctx = v->ctx;
  if (ctx->running < ctx->run_slots && ctx->run_queue.empty()) {
    ctx->running++;
    fvi_set_pause_exits(v->uc, 0);
    return true;
  }
  ctx->run_queue.push_back(v->id);
  while (!(ctx->running < ctx->run_slots && ctx->run_queue.front() == v->id)) {
    if (v->kick) {
      for (auto it = ctx->run_queue.begin(); it != ctx->run_queue.end(); ++it) {
        if (*it == v->id) {
          ctx->run_queue.erase(it);
          break;
        }
      }
      ctx->run_cv.notify_all();
      return false;
    }
    ctx->run_cv.wait(lk);
  }
  ctx->run_queue.pop_front();
  ctx->running++;
  fvi_set_pause_exits(v->uc, 0);
  return true;
}

void release_run(vcpu* v) {
  v->ctx->running--;
  v->ctx->run_cv.notify_all();
}

void suspend_vm_locked(VmCtx* ctx, int how) {
  if (ctx->suspend_how == VM_SUSPEND_NONE) {
    ctx->suspend_how = how;
  }
  for (vcpu* o : ctx->vcpus) {
    if (o != nullptr) {
      fakevmm::kick_locked(o);
    }
  }
}

// Every active vCPU is halted with interrupts off: nothing can wake the VM.
bool all_halted_if0(VmCtx* ctx) {
  for (vcpu* o : ctx->vcpus) {
    if (o != nullptr && o->active && !(o->halted && o->halted_if0)) {
      return false;
    }
  }
  return true;
}

// A step is a code hook on every instruction (on_step), which stops at the
// second instruction boundary wherever it is: after a jump, in the handler
// of an exception the instruction raised. Hooks are compiled into translated
// blocks, so blocks built with the hook and blocks built without it must
// never be mixed. They are kept apart, not flushed: the step's blocks are a
// set of their own (fvi_set_step_blocks), which survives between steps, so
// neither a step after running nor running after a step translates the
// guest's code again. Every step installs the same callback with the same
// user data, and any other code or memory hook changes with a full flush
// (apply_debug_slots), so a kept step block is what a new one would be.
//
// Not chosen:
//   - RFLAGS.TF (QEMU keys blocks on it too): the guest would see TF (pushf,
//     the frame of an exception the instruction raises, syscall's R11, the
//     flags iret and popf reload), and the trap is late after MOV SS and
//     missing after a faulting instruction; each needs a fix-up.
//   - A hook on the stepped instruction only: the next boundary can be
//     anywhere, and a stop asked for by that hook takes effect before the
//     instruction runs (Unicorn checks for one after the hook and after
//     every memory access).
//   - uc_emu_start's instruction count: Unicorn counts with the same
//     all-address hook and flushes everything when counting stops.
void set_step_hook(vcpu* v, bool on) {
  if (on == v->step_hook_installed) {
    return;
  }
  if (on) {
    uc_hook_add(v->uc, &v->step_hook, UC_HOOK_CODE, reinterpret_cast<void*>(on_step), v, 1, 0);
  } else {
    fvi_forget_hook_blocks(v->step_hook);  // keep the step's blocks for the next step
    uc_hook_del(v->uc, v->step_hook);
  }
  fvi_set_step_blocks(v->uc, on ? 1 : 0);
  v->step_hook_installed = on;
}

// ---- Debug slots (fakevmm.h): code hooks for execute slots, memory hooks
// for data slots. A memory hook runs before the access, inside the
// instruction, so it only records the hit; the report waits for the next
// instruction boundary (a code hook on every instruction while a data slot
// is watched), where the instruction has completed.

vm_exit debug_exit(uint64_t rip) {
  vm_exit e{};
  e.exitcode = VM_EXITCODE_DB;
  e.rip = rip;
  e.inst_length = 0;
  return e;
}

// The recorded data hits become the pending exit, at `rip` (past the access).
void report_watch(vcpu* v, uint64_t rip) {
  v->pend_status = fakevmm_debug_status{v->watch_hits, v->watch_access};
  v->watch_hits = v->watch_access = 0;
  set_pending_exit(v, debug_exit(rip), false);
}

void on_exec_slot(uc_engine* uc, uint64_t address, uint32_t, void* user) {
  vcpu* v = static_cast<vcpu*>(user);
  if (v->pend.valid) {
    return;
  }
  if (v->watch_hits != 0) {
    report_watch(v, address);  // the previous instruction hit a data slot first
    uc_emu_stop(uc);
    return;
  }
  if (v->stepping && !v->step_in_range) {
    return;  // a step ends at the next instruction anyway
  }
  uint32_t hits = 0;
  for (int i = 0; i < FAKEVMM_DEBUG_SLOTS; i++) {
    const fakevmm_debug_slot& s = v->applied_slots[i].slot;
    if (s.enabled && s.kind == FAKEVMM_DEBUG_EXEC && s.gla == address) {
      hits |= 1u << i;
    }
  }
  if (hits == 0) {
    return;
  }
  v->pend_status = fakevmm_debug_status{hits, 0};
  set_pending_exit(v, debug_exit(address), false);
  uc_emu_stop(uc);
}

void on_data_slot(uc_engine* uc, uc_mem_type type, uint64_t gpa, int size, int64_t, void* user) {
  vcpu* v = static_cast<vcpu*>(user);
  const bool write = type == UC_MEM_WRITE;
  for (int i = 0; i < FAKEVMM_DEBUG_SLOTS; i++) {
    const auto& a = v->applied_slots[i];
    if (!a.slot.enabled || !a.mapped || gpa >= a.gpa + static_cast<uint64_t>(a.slot.length) ||
        gpa + static_cast<uint64_t>(size) <= a.gpa) {
      continue;
    }
    const int kind = a.slot.kind;
    if (kind == FAKEVMM_DEBUG_ACCESS ||
        kind == (write ? FAKEVMM_DEBUG_WRITE : FAKEVMM_DEBUG_READ)) {
      v->watch_hits |= 1u << i;
      v->watch_access |= write ? FAKEVMM_ACCESS_WRITE : FAKEVMM_ACCESS_READ;
      v->watch_rip = read_reg(uc, UC_X86_REG_RIP);  // Unicorn synced it for the hook
    }
  }
}

void on_boundary(uc_engine* uc, uint64_t address, uint32_t, void* user) {
  vcpu* v = static_cast<vcpu*>(user);
  if (v->watch_hits == 0 || v->pend.valid) {
    return;
  }
  report_watch(v, address);
  uc_emu_stop(uc);
}

bool same_slot(const fakevmm_debug_slot& a, const fakevmm_debug_slot& b) {
  return a.enabled == b.enabled &&
         (!a.enabled || (a.kind == b.kind && a.gla == b.gla && a.length == b.length));
}

// Brings the engine's hooks in line with v->debug_slots (ctx->mu held, on
// the vCPU's thread, before uc_emu_start). Data slots are translated again
// each time: the guest may have changed its page tables.
void apply_debug_slots(vcpu* v) {
  bool changed = false;
  bool any_data = false;
  vm_guest_paging pg = current_paging(v);
  pg.cpl = 0;  // where the bytes are, not whether the guest may touch them
  for (int i = 0; i < FAKEVMM_DEBUG_SLOTS; i++) {
    const fakevmm_debug_slot& want = v->debug_slots[i];
    auto& a = v->applied_slots[i];
    bool mapped = false;
    uint64_t gpa = 0;
    if (want.enabled && want.kind != FAKEVMM_DEBUG_EXEC) {
      int fault = 0;
      mapped = fakevmm::walk(v, &pg, want.gla, PROT_READ, &gpa, &fault) == 0 && !fault;
      any_data = any_data || mapped;
    }
    if (same_slot(want, a.slot) && mapped == a.mapped && gpa == a.gpa) {
      continue;
    }
    for (int h = 0; h < a.hook_count; h++) {
      uc_hook_del(v->uc, a.hooks[h]);
    }
    a = vcpu::AppliedSlot();
    a.slot = want;
    a.mapped = mapped;
    a.gpa = gpa;
    changed = true;
    if (!want.enabled) {
      continue;
    }
    if (want.kind == FAKEVMM_DEBUG_EXEC) {
      uc_hook_add(v->uc, &a.hooks[a.hook_count++], UC_HOOK_CODE,
                  reinterpret_cast<void*>(on_exec_slot), v, want.gla, want.gla);
      continue;
    }
    if (!mapped) {
      continue;
    }
    // Bounds on the access's first byte: a wider access that starts below
    // the slot can still overlap it (the callback checks the overlap).
    const uint64_t begin = gpa >= 15 ? gpa - 15 : 0, end = gpa + want.length - 1;
    if (want.kind != FAKEVMM_DEBUG_READ) {
      uc_hook_add(v->uc, &a.hooks[a.hook_count++], UC_HOOK_MEM_WRITE,
                  reinterpret_cast<void*>(on_data_slot), v, begin, end);
    }
    if (want.kind != FAKEVMM_DEBUG_WRITE) {
      uc_hook_add(v->uc, &a.hooks[a.hook_count++], UC_HOOK_MEM_READ,
                  reinterpret_cast<void*>(on_data_slot), v, begin, end);
    }
  }
  if (any_data != v->boundary_hook_installed) {
    if (any_data) {
      uc_hook_add(v->uc, &v->boundary_hook, UC_HOOK_CODE, reinterpret_cast<void*>(on_boundary), v,
                  1, 0);
    } else {
      uc_hook_del(v->uc, v->boundary_hook);
    }
    v->boundary_hook_installed = any_data;
    changed = true;
  }
  if (changed) {
    uc_ctl_flush_tb(v->uc);  // hooks are compiled into translated code
  }
}

}  // namespace

namespace fakevmm {

void kick_locked(vcpu* v) {
  v->kick = true;
  if (v->in_emu) {
    uc_emu_stop(v->uc);
  }
  v->cv.notify_all();
  v->ctx->run_cv.notify_all();
}

bool install_hooks(vcpu* v) {
  uc_hook h;
  return uc_hook_add(v->uc, &h, UC_HOOK_INSN, reinterpret_cast<void*>(on_in), v, 1, 0,
                     UC_X86_INS_IN) == UC_ERR_OK &&
         uc_hook_add(v->uc, &h, UC_HOOK_INSN, reinterpret_cast<void*>(on_out), v, 1, 0,
                     UC_X86_INS_OUT) == UC_ERR_OK &&
         uc_hook_add(v->uc, &h, UC_HOOK_INTR, reinterpret_cast<void*>(on_intr), v, 1, 0) ==
             UC_ERR_OK &&
         uc_hook_add(v->uc, &h, UC_HOOK_INSN_INVALID, reinterpret_cast<void*>(on_invalid), v, 1,
                     0) == UC_ERR_OK;
}

}  // namespace fakevmm

extern "C" {

int vm_run(struct vcpu* v, struct vm_run* vmrun) {
  if (v == nullptr || vmrun == nullptr || vmrun->vm_exit == nullptr) {
    return fail(EINVAL, -1);
  }
  VmCtx* ctx = v->ctx;
  std::unique_lock<std::mutex> lk(ctx->mu);
  if (v->in_run) {
    return fail(EBUSY, -1);
  }
  if (!v->active || ctx->mem == nullptr) {
    return fail(EINVAL, -1);
  }
  v->in_run = true;
  fakevmm::start_ticker(ctx);
  uc_engine* uc = v->uc;
  if (v->nextrip_pending) {
    write_reg(uc, UC_X86_REG_RIP, v->nextrip);
    v->nextrip_pending = false;
  }
  bool io_step_done = v->step_after_io;
  v->step_after_io = false;
  v->step_over_armed = v->step_over;
  v->run_deadline = v->run_budget_us > 0
                        ? Clock::now() + std::chrono::microseconds(v->run_budget_us)
                        : Clock::time_point::max();

  vm_exit ex{};
  bool exit_from_engine = false;
  for (;;) {
    exit_from_engine = false;
    uint64_t rip = read_reg(uc, UC_X86_REG_RIP);
    if (ctx->suspend_how != VM_SUSPEND_NONE) {
      ex.exitcode = VM_EXITCODE_SUSPENDED;
      ex.rip = rip;
      ex.u.suspended.how = static_cast<vm_suspend_how>(ctx->suspend_how);
      CPU_SET(v->id, &ctx->suspended_set);
      break;
    }
    if (CPU_ISSET(v->id, &ctx->debug_set)) {
      ex.exitcode = VM_EXITCODE_DEBUG;
      ex.rip = rip;
      break;
    }
    if (!v->queued_exits.empty()) {
      ex = v->queued_exits.front();
      v->queued_exits.pop_front();
      break;
    }
    v->stepping = v->caps[VM_CAP_MTRAP_EXIT] != 0;
    if (v->stepping && io_step_done) {
      ex.exitcode = VM_EXITCODE_MTRAP;
      ex.rip = rip;
      break;
    }
    v->kick = false;
    Clock::time_point now = Clock::now();
    if (now >= v->run_deadline) {
      ex.exitcode = VM_EXITCODE_BOGUS;
      ex.rip = rip;
      break;
    }
    fakevmm::atpit_update(ctx, now);
    fakevmm::lapic_timer_update(v, now);

    bool from_pic = false;
    int vector = -1;
    bool mask = v->caps[VM_CAP_MASK_HWINTR] != 0;
    if (!mask && interrupts_enabled(v)) {
      vector = pending_interrupt(v, &from_pic);
    }
    if (v->halted) {
      if (vector >= 0 || v->exc_pending || v->nmi_pending) {
        v->halted = false;
        v->halted_if0 = false;
      } else if (v->stepping) {
        // A step cannot finish while halted; report it done where it is.
        v->halted = false;
        v->halted_if0 = false;
        ex.exitcode = VM_EXITCODE_MTRAP;
        ex.rip = rip;
        break;
      } else {
        v->halted_if0 = (read_reg(uc, UC_X86_REG_RFLAGS) & 0x200) == 0;
        if (v->halted_if0 && all_halted_if0(ctx)) {
          suspend_vm_locked(ctx, VM_SUSPEND_HALT);
          continue;
        }
        v->cv.wait_for(lk, std::chrono::microseconds(1000));
        continue;
      }
    }

    if (!acquire_run(v, lk)) {
      continue;
    }
    fakevmm::drop_stale_code(v);
    fakevmm::refresh_code_tlb(v);
    set_step_hook(v, v->stepping);
    fvi_set_step_over_blocks(uc, v->stepping && v->step_over_armed ? 1 : 0);
    apply_debug_slots(v);
    v->pend = fakevmm::PendingExit();
    v->pend_extra.clear();
    v->step_count = 0;
    v->step_done = false;
    v->step_in_range = v->stepping && v->step_range_start < v->step_range_end;
    if (v->step_in_range) {
      fvi_seg cs;
      fvi_get_seg(uc, FVI_CS, &cs);
      v->step_linear_start = cs.base + v->step_range_start;
      v->step_linear_end = cs.base + v->step_range_end;
      if (v->step_linear_end < v->step_linear_start) {
        v->step_linear_end = ~uint64_t{0};  // wrapped past the top: up to the end of the space
      }
    }
    v->watch_hits = v->watch_access = 0;

    // Event injection at entry, as VM entry does.
    bool delivered = false;
    int triple = 0;
    if (v->exc_pending) {
      v->exc_pending = false;
      delivered = true;
      triple = fvi_deliver(uc, v->exc_vector, FVI_EV_EXCEPTION, v->exc_has_err, v->exc_err);
    } else if (v->nmi_pending) {
      v->nmi_pending = false;
      delivered = true;
      triple = fvi_deliver(uc, 2, FVI_EV_NMI, 0, 0);
    } else if (vector >= 0) {
      if (from_pic) {
        fakevmm::atpic_acknowledge(ctx);
      } else {
        fakevmm::lapic_acknowledge(v, vector);
      }
      delivered = true;
      triple = fvi_deliver(uc, vector, FVI_EV_EXTINT, 0, 0);
    }
    if (delivered) {
      v->interrupts_delivered++;
    }
    if (triple) {
      release_run(v);
      suspend_vm_locked(ctx, VM_SUSPEND_TRIPLEFAULT);
      continue;
    }
    if (delivered && v->stepping) {
      // Monitor-trap semantics: stop at the handler's first instruction.
      release_run(v);
      ex.exitcode = VM_EXITCODE_MTRAP;
      ex.rip = read_reg(uc, UC_X86_REG_RIP);
      break;
    }
    // An interrupt the guest cannot take yet (IF clear, an STI or MOV SS
    // shadow, or the handler of the one just delivered) ends the run at the
    // boundary where it can, as VMX's interrupt-window exiting does; without
    // it the interrupt would wait for the next kick, and a stream of timer
    // interrupts on one controller would starve the other.
    bool window_from_pic = false;
    fvi_set_interrupt_window(uc, !mask && pending_interrupt(v, &window_from_pic) >= 0);
    if (v->kick) {
      release_run(v);
      continue;
    }
    v->in_emu = true;
    v->slice_start = now;
    fvi_set_thread_parallel(ctx->run_slots > 1 && ctx->vcpu_count > 1);
    lk.unlock();
    uc_err err = uc_emu_start(uc, read_reg(uc, UC_X86_REG_RIP), 0, 0, 0);
    lk.lock();
    exit_from_engine = true;
    v->in_emu = false;
    v->emu_entries++;
    release_run(v);
    bool halted = fvi_take_halted(uc) != 0;
    if (fvi_take_triple_fault(uc)) {
      suspend_vm_locked(ctx, VM_SUSPEND_TRIPLEFAULT);
      continue;
    }
    if (!v->pend.valid && v->watch_hits != 0) {
      // Stopped between the access and the next instruction's hooks (end of
      // a translated block): report it if the instruction completed; one
      // stopped inside it runs again and hits again.
      uint64_t rip_now = read_reg(uc, UC_X86_REG_RIP);
      if (rip_now != v->watch_rip) {
        report_watch(v, rip_now);
      }
      v->watch_hits = v->watch_access = 0;
    }
    if (v->pend.valid) {
      ex = v->pend.exit;
      if (ex.exitcode == VM_EXITCODE_DB) {
        v->debug_status = v->pend_status;
      }
      if (v->pend.set_rip) {
        write_reg(uc, UC_X86_REG_RIP, ex.rip);
      }
      for (const vm_exit& e : v->pend_extra) {
        v->queued_exits.push_back(e);
      }
      if (ex.exitcode == VM_EXITCODE_INOUT && ex.inst_length > 0 && v->stepping) {
        v->step_after_io = true;
      }
      break;
    }
    if (err != UC_ERR_OK) {
      // Unicorn could not go on (e.g. access above guest RAM): the guest is
      // as good as dead; report it like a triple fault.
      suspend_vm_locked(ctx, VM_SUSPEND_TRIPLEFAULT);
      continue;
    }
    if (v->step_done || (v->stepping && halted)) {
      ex.exitcode = VM_EXITCODE_MTRAP;
      ex.rip = read_reg(uc, UC_X86_REG_RIP);
      break;
    }
    if (halted) {
      if (v->caps[VM_CAP_HALT_EXIT]) {
        ex.exitcode = VM_EXITCODE_HLT;
        ex.rip = read_reg(uc, UC_X86_REG_RIP) - 1;
        ex.inst_length = 1;
        ex.u.hlt.rflags = read_reg(uc, UC_X86_REG_RFLAGS);
        break;
      }
      v->halted = true;
      continue;
    }
    // Preempted (time slice, pending interrupt, code flush, pause): go round.
  }
  if (exit_from_engine && !v->queued_exits.empty()) {
    // An exit queued while the engine ran (the SPINUP_AP of an INIT/SIPI
    // this vCPU sent) happened before the one that ended the run, which
    // comes at the end of the translated block at the earliest.
    v->queued_exits.push_back(ex);
    ex = v->queued_exits.front();
    v->queued_exits.pop_front();
  }
  if (ex.inst_length > 0) {
    v->nextrip_pending = true;
    v->nextrip = ex.rip + static_cast<uint64_t>(ex.inst_length);
  }
  v->in_run = false;
  v->run_deadline = Clock::time_point::max();
  *vmrun->vm_exit = ex;
  if (vmrun->cpuset != nullptr && vmrun->cpusetsize > 0) {
    std::memset(vmrun->cpuset, 0, vmrun->cpusetsize);
  }
  return 0;
}

int vm_suspend(struct vmctx* ctx, enum vm_suspend_how how) {
  if (ctx == nullptr || how <= VM_SUSPEND_NONE || how >= VM_SUSPEND_LAST) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(ctx->mu);
  if (ctx->suspend_how != VM_SUSPEND_NONE) {
    return fail(EALREADY, -1);
  }
  suspend_vm_locked(ctx, how);
  return 0;
}

int vm_restart_instruction(struct vcpu* vcpu) {
  if (vcpu == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  vcpu->nextrip_pending = false;
  vcpu->step_after_io = false;
  return 0;
}

int vm_inject_exception(struct vcpu* vcpu, int vector, int errcode_valid, uint32_t errcode,
                        int restart_instruction) {
  if (vcpu == nullptr || vector < 0 || vector >= 32 || vector == 2) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  if (vcpu->exc_pending) {
    return fail(EBUSY, -1);
  }
  vcpu->exc_pending = true;
  vcpu->exc_vector = vector;
  vcpu->exc_has_err = errcode_valid != 0;
  vcpu->exc_err = errcode;
  if (restart_instruction) {
    vcpu->nextrip_pending = false;
  }
  fakevmm::kick_locked(vcpu);
  return 0;
}

int vm_lapic_irq(struct vcpu* vcpu, int vector) {
  if (vcpu == nullptr || vector < 16 || vector > 255) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  fakevmm::lapic_set_irr(vcpu, vector);
  fakevmm::kick_locked(vcpu);
  return 0;
}

int vm_lapic_local_irq(struct vcpu* vcpu, int vector) {
  // LINT0/LINT1 style delivery is not modelled; treat it as a fixed interrupt.
  return vm_lapic_irq(vcpu, vector);
}

int vm_inject_nmi(struct vcpu* vcpu) {
  if (vcpu == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  vcpu->nmi_pending = true;
  fakevmm::kick_locked(vcpu);
  return 0;
}

int vm_get_intinfo(struct vcpu* vcpu, uint64_t* i1, uint64_t* i2) {
  if (vcpu == nullptr || i1 == nullptr || i2 == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  *i1 = 0;
  *i2 = 0;
  if (vcpu->exc_pending) {
    *i2 = VM_INTINFO_VALID | VM_INTINFO_HWEXCEPTION | static_cast<uint64_t>(vcpu->exc_vector);
    if (vcpu->exc_has_err) {
      *i2 |= VM_INTINFO_DEL_ERRCODE | (static_cast<uint64_t>(vcpu->exc_err) << 32);
    }
  }
  return 0;
}

int vm_set_intinfo(struct vcpu* vcpu, uint64_t info) {
  if (vcpu == nullptr) {
    return fail(EINVAL, -1);
  }
  if (!(info & VM_INTINFO_VALID)) {
    return 0;
  }
  if ((info & VM_INTINFO_TYPE) != VM_INTINFO_HWEXCEPTION) {
    return fail(EINVAL, -1);
  }
  return vm_inject_exception(vcpu, static_cast<int>(VM_INTINFO_VECTOR(info)),
                             (info & VM_INTINFO_DEL_ERRCODE) != 0,
                             static_cast<uint32_t>(info >> 32), 0);
}

int vm_get_x2apic_state(struct vcpu* vcpu, enum x2apic_state* s) {
  if (vcpu == nullptr || s == nullptr) {
    return fail(EINVAL, -1);
  }
  *s = X2APIC_DISABLED;
  return 0;
}

int vm_set_x2apic_state(struct vcpu* vcpu, enum x2apic_state s) {
  if (vcpu == nullptr || s != X2APIC_DISABLED) {
    return fail(EINVAL, -1);
  }
  return 0;
}

int vm_apicid2vcpu(struct vmctx* ctx, int apicid) {
  if (ctx == nullptr || apicid < 0 || apicid >= FAKEVMM_MAXCPU) {
    return fail(EINVAL, -1);
  }
  return apicid;  // APIC id == vCPU id
}

int vm_set_debug_slots(struct vcpu* vcpu, const struct fakevmm_debug_slot* slots, int count) {
  if (vcpu == nullptr || count < 0 || count > FAKEVMM_DEBUG_SLOTS ||
      (count > 0 && slots == nullptr)) {
    return fail(EINVAL, -1);
  }
  fakevmm_debug_slot next[FAKEVMM_DEBUG_SLOTS] = {};
  for (int i = 0; i < count; i++) {
    const fakevmm_debug_slot& s = slots[i];
    if (!s.enabled) {
      continue;
    }
    if (s.kind < FAKEVMM_DEBUG_EXEC || s.kind > FAKEVMM_DEBUG_ACCESS) {
      return fail(EINVAL, -1);
    }
    if (s.kind != FAKEVMM_DEBUG_EXEC &&
        ((s.length != 1 && s.length != 2 && s.length != 4 && s.length != 8) ||
         s.gla % static_cast<uint64_t>(s.length) != 0)) {
      return fail(EINVAL, -1);
    }
    next[i] = s;
    next[i].enabled = 1;
    if (s.kind == FAKEVMM_DEBUG_EXEC) {
      next[i].length = 1;
    }
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  std::memcpy(vcpu->debug_slots, next, sizeof next);
  fakevmm::kick_locked(vcpu);  // a running vCPU re-enters with the new hooks
  return 0;
}

int vm_set_step_range(struct vcpu* vcpu, uint64_t start, uint64_t end) {
  if (vcpu == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  vcpu->step_range_start = start;
  vcpu->step_range_end = end;
  return 0;
}

int vm_set_step_over(struct vcpu* vcpu, int on) {
  if (vcpu == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  vcpu->step_over = on != 0;
  return 0;
}

int vm_set_run_budget(struct vcpu* vcpu, uint64_t usec) {
  if (vcpu == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  vcpu->run_budget_us = usec;
  return 0;
}

int vm_get_debug_status(struct vcpu* vcpu, struct fakevmm_debug_status* status) {
  if (vcpu == nullptr || status == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  *status = vcpu->debug_status;
  return 0;
}

int vm_get_fake_stats(struct vcpu* vcpu, struct fakevmm_stats* stats) {
  if (vcpu == nullptr || stats == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  stats->emu_entries = vcpu->emu_entries;
  stats->interrupts_delivered = vcpu->interrupts_delivered;
  return 0;
}

}  // extern "C"
