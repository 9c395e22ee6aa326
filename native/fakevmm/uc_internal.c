// Fake vmm: direct access to Unicorn's x86 CPU state (see uc_internal.h).
// Built with Unicorn's private include directories (see CMakeLists.txt).
#include "uc_internal.h"

#include "cpu.h"
#include "exec/exec-all.h"
#include "qemu/osdep.h"
#include "uc_priv.h"

void helper_set_dr(CPUX86State* env, int reg, target_ulong t0);
// QEMU's exec/ram_addr.h declares it but is private to QEMU's own memory code.
void tb_invalidate_phys_range(struct uc_struct* uc, ram_addr_t start, ram_addr_t end);

static CPUX86State* env_of(uc_engine* uc) {
  return (CPUX86State*)((struct uc_struct*)uc)->cpu->env_ptr;
}

static CPUState* cpu_of(uc_engine* uc) { return ((struct uc_struct*)uc)->cpu; }

// VMX access rights <-> QEMU descriptor flags (the descriptor's high dword).
static uint32_t access_to_flags(uint32_t access) {
  if (access & 0x10000) {
    return 0;
  }
  return ((access & 0xff) << 8) | ((access & 0xf000) << 8);
}

static uint32_t flags_to_access(uint32_t flags, int is_cs) {
  uint32_t access = ((flags >> 8) & 0xff) | ((flags >> 8) & 0xf000);
  if (!(flags & DESC_P_MASK) && !is_cs) {
    access |= 0x10000;
  }
  return access;
}

void fvi_get_seg(uc_engine* uc, int which, struct fvi_seg* out) {
  CPUX86State* env = env_of(uc);
  const SegmentCache* sc;
  switch (which) {
    case FVI_LDTR:
      sc = &env->ldt;
      break;
    case FVI_TR:
      sc = &env->tr;
      break;
    case FVI_GDTR:
      sc = &env->gdt;
      break;
    case FVI_IDTR:
      sc = &env->idt;
      break;
    default:
      sc = &env->segs[which];
      break;
  }
  out->selector = (uint16_t)sc->selector;
  out->base = sc->base;
  out->limit = sc->limit;
  out->access =
      (which == FVI_GDTR || which == FVI_IDTR) ? 0 : flags_to_access(sc->flags, which == FVI_CS);
}

// Recompute the CS/SS-derived decoding flags after a mode change.
static void resync_hflags(CPUX86State* env) {
  SegmentCache cs = env->segs[R_CS];
  SegmentCache ss = env->segs[R_SS];
  cpu_x86_load_seg_cache(env, R_SS, ss.selector, ss.base, ss.limit, ss.flags);
  cpu_x86_load_seg_cache(env, R_CS, cs.selector, cs.base, cs.limit, cs.flags);
}

void fvi_set_seg(uc_engine* uc, int which, const struct fvi_seg* in) {
  CPUX86State* env = env_of(uc);
  uint32_t flags = access_to_flags(in->access);
  switch (which) {
    case FVI_LDTR:
      env->ldt.selector = in->selector;
      env->ldt.base = in->base;
      env->ldt.limit = in->limit;
      env->ldt.flags = flags;
      break;
    case FVI_TR:
      env->tr.selector = in->selector;
      env->tr.base = in->base;
      env->tr.limit = in->limit;
      env->tr.flags = flags;
      break;
    case FVI_GDTR:
      env->gdt.base = in->base;
      env->gdt.limit = in->limit;
      break;
    case FVI_IDTR:
      env->idt.base = in->base;
      env->idt.limit = in->limit;
      break;
    default:
      cpu_x86_load_seg_cache(env, which, in->selector, in->base, in->limit, flags);
      if (which == R_SS || which == R_CS) {
        resync_hflags(env);
      }
      break;
  }
  // Cached translations depend on segment state only through hflags, which
  // are part of every translation block's key; nothing to flush here.
}

uint64_t fvi_get_cr(uc_engine* uc, int n) { return env_of(uc)->cr[n]; }

// A host write of CR0 takes the value as given and never changes EFER.LMA
// (as on VMX, where LMA comes from the EFER the host writes). QEMU's own CR0
// update would drop the write or toggle LMA depending on the order in which
// the host sets CR0, CR4 and EFER.
static void set_cr0_exact(CPUX86State* env, CPUState* cs, uint32_t cr0) {
  cr0 |= CR0_ET_MASK;
  if ((cr0 ^ (uint32_t)env->cr[0]) & (CR0_PG_MASK | CR0_WP_MASK | CR0_PE_MASK)) {
    tlb_flush(cs);
  }
  env->cr[0] = cr0;
  uint32_t pe = cr0 & CR0_PE_MASK;
  env->hflags = (env->hflags & ~HF_PE_MASK) | (pe << HF_PE_SHIFT);
  if (!pe) {
    env->hflags |= HF_ADDSEG_MASK;
  }
  env->hflags = (env->hflags & ~(HF_MP_MASK | HF_EM_MASK | HF_TS_MASK)) |
                ((cr0 << (HF_MP_SHIFT - 1)) & (HF_MP_MASK | HF_EM_MASK | HF_TS_MASK));
}

void fvi_set_cr(uc_engine* uc, int n, uint64_t val) {
  CPUX86State* env = env_of(uc);
  switch (n) {
    case 0:
      set_cr0_exact(env, cpu_of(uc), (uint32_t)val);
      break;
    case 2:
      env->cr[2] = val;
      break;
    case 3:
      cpu_x86_update_cr3(env, val);
      break;
    case 4:
      cpu_x86_update_cr4(env, (uint32_t)val);
      break;
    default:
      return;
  }
  resync_hflags(env);
}

uint64_t fvi_get_efer(uc_engine* uc) { return env_of(uc)->efer; }

void fvi_set_efer(uc_engine* uc, uint64_t val) {
  CPUX86State* env = env_of(uc);
  cpu_load_efer(env, val);
  resync_hflags(env);
  tlb_flush(cpu_of(uc));
}

uint64_t fvi_get_dr(uc_engine* uc, int n) { return env_of(uc)->dr[n]; }

void fvi_set_dr(uc_engine* uc, int n, uint64_t val) {
  if (n < 0 || n > 7 || n == 4 || n == 5) {
    return;
  }
  helper_set_dr(env_of(uc), n, val);
}

uint64_t fvi_get_kgs_base(uc_engine* uc) { return env_of(uc)->kernelgsbase; }
void fvi_set_kgs_base(uc_engine* uc, uint64_t val) { env_of(uc)->kernelgsbase = val; }

int fvi_get_intr_shadow(uc_engine* uc) {
  return (env_of(uc)->hflags & HF_INHIBIT_IRQ_MASK) ? 1 : 0;
}

void fvi_set_intr_shadow(uc_engine* uc, int on) {
  CPUX86State* env = env_of(uc);
  if (on) {
    env->hflags |= HF_INHIBIT_IRQ_MASK;
  } else {
    env->hflags &= ~HF_INHIBIT_IRQ_MASK;
  }
}

int fvi_deliver(uc_engine* uc, int vector, int kind, int has_err, uint32_t err) {
  struct uc_struct* u = (struct uc_struct*)uc;
  CPUState* cs = u->cpu;
  CPUX86State* env = env_of(uc);
  volatile int triple = 0;

  env->old_exception = -1;
  env->hflags &= ~HF_INHIBIT_IRQ_MASK;
  u->nested_level++;
  if (sigsetjmp(u->jmp_bufs[u->nested_level - 1], 0) != 0) {
    // Delivery faulted; QEMU left the follow-up exception (already turned
    // into #DF, or EXCP_HLT for a triple fault) in exception_index.
    if (cs->exception_index == EXCP_HLT || cs->exception_index < 0 ||
        cs->exception_index >= EXCP_INTERRUPT) {
      triple = 1;
    } else {
      env->exception_is_int = 0;
      x86_cpu_do_interrupt(cs);
    }
  } else if (kind == FVI_EV_EXCEPTION) {
    cs->exception_index = vector;
    env->exception_is_int = 0;
    env->error_code = has_err ? (int)err : 0;
    env->exception_next_eip = env->eip;
    x86_cpu_do_interrupt(cs);
  } else {
    if (kind == FVI_EV_NMI) {
      env->hflags2 |= HF2_NMI_MASK;
    }
    do_interrupt_x86_hardirq(env, vector, 1);
  }
  u->nested_level--;
  cs->exception_index = -1;
  env->old_exception = -1;
  if (triple) {
    cs->stopped = false;
    cs->stop = false;
    return 1;
  }
  return 0;
}

void fvi_deliver_current_exception(uc_engine* uc) { x86_cpu_do_interrupt(cpu_of(uc)); }

int fvi_current_exception_is_int(uc_engine* uc) { return env_of(uc)->exception_is_int; }

uint32_t fvi_current_error_code(uc_engine* uc) { return (uint32_t)env_of(uc)->error_code; }

void fvi_abort_instruction(uc_engine* uc) {
  CPUState* cs = cpu_of(uc);
  cs->exception_index = -1;
  cpu_loop_exit(cs);
}

void fvi_set_cpu_identity(uc_engine* uc, uint32_t apic_id, int cores, int threads) {
  X86CPU* cpu = X86_CPU(cpu_of(uc));
  cpu->apic_id = apic_id;
  cpu_of(uc)->nr_cores = cores;
  cpu_of(uc)->nr_threads = threads;
  cpu->env.features[FEAT_1_ECX] &= ~(uint32_t)(CPUID_EXT_X2APIC | CPUID_EXT_TSC_DEADLINE_TIMER);
}

void fvi_set_thread_parallel(int on) { vmm_thread_cflags = on ? CF_PARALLEL : 0; }

void fvi_raise_cpuid_level(uc_engine* uc, uint32_t level) {
  CPUX86State* env = env_of(uc);
  if (env->cpuid_level < level) {
    env->cpuid_level = level;
  }
}

void fvi_set_pause_exits(uc_engine* uc, int on) {
  ((struct uc_struct*)uc)->vmm_pause_exits = on != 0;
}

void fvi_set_interrupt_window(uc_engine* uc, int on) {
  CPUState* cs = cpu_of(uc);
  if (on) {
    cs->interrupt_request |= CPU_INTERRUPT_HARD;
  } else {
    cs->interrupt_request &= ~CPU_INTERRUPT_HARD;
  }
}

int fvi_take_halted(uc_engine* uc) {
  CPUState* cs = cpu_of(uc);
  int h = cs->halted != 0;
  cs->halted = 0;
  return h;
}

int fvi_take_triple_fault(uc_engine* uc) {
  CPUState* cs = cpu_of(uc);
  CPUX86State* env = env_of(uc);
  int t = cs->stopped && env->old_exception == EXCP08_DBLE;
  if (t) {
    cs->stopped = false;
    env->old_exception = -1;
  }
  return t;
}

void fvi_invalidate_code(uc_engine* uc, void* host, size_t len) {
  struct uc_struct* u = (struct uc_struct*)uc;
  ram_addr_t start = qemu_ram_addr_from_host(u, host);
  if (start == RAM_ADDR_INVALID || len == 0) {
    return;
  }
  // Blocks are listed per physical page (by ram address), both pages of a
  // block that spans two; invalidating one also clears its tb_jmp_cache entry
  // and unlinks the blocks chained to it. No block is executing: the engine
  // is outside uc_emu_start.
  tb_invalidate_phys_range(u, start, start + len);
}

void fvi_set_code_record(uc_engine* uc, void* opaque, fvi_code_added_fn added,
                         fvi_code_elsewhere_fn elsewhere, fvi_code_written_fn written) {
  struct uc_struct* u = (struct uc_struct*)uc;
  u->vmm_code_opaque = opaque;
  u->vmm_code_added = added;
  u->vmm_code_elsewhere = elsewhere;
  u->vmm_code_written = written;
}

bool vmm_tb_page_has_own_code(struct uc_struct* uc, ram_addr_t ram_addr);

int fvi_page_has_own_code(uc_engine* uc, void* host) {
  struct uc_struct* u = (struct uc_struct*)uc;
  ram_addr_t ram_addr = qemu_ram_addr_from_host(u, host);
  return ram_addr != RAM_ADDR_INVALID && vmm_tb_page_has_own_code(u, ram_addr);
}

void fvi_flush_tlb(uc_engine* uc) { tlb_flush(cpu_of(uc)); }

// Translated blocks are looked up by (pc, flags, cflags, trace_vcpu_dstate);
// Unicorn has no trace events, so the dstate bitmap is free to key a second
// set of blocks. Blocks only chain to blocks found under the same key, and
// uc_emu_start never changes it, so the sets never jump into each other.
enum { STEP_BLOCKS_BIT = 0, STEP_OVER_BLOCKS_BIT = 1 };

static void set_dstate_bit(uc_engine* uc, int bit, int on) {
  CPUState* cs = cpu_of(uc);
  if (on) {
    cs->trace_dstate[0] |= 1ul << bit;
  } else {
    cs->trace_dstate[0] &= ~(1ul << bit);
  }
}

void fvi_set_step_blocks(uc_engine* uc, int on) { set_dstate_bit(uc, STEP_BLOCKS_BIT, on); }

void fvi_set_step_over_blocks(uc_engine* uc, int on) {
  set_dstate_bit(uc, STEP_OVER_BLOCKS_BIT, on);
}

void fvi_forget_hook_blocks(uc_hook hook) {
  struct hook* h = (struct hook*)hook;
  g_hash_table_remove_all(h->hooked_regions);
}
