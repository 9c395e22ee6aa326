// Fake vmm: a per-vCPU local APIC in xAPIC mode (MMIO page at 0xFEE00000):
// ID (= vCPU id), version, TPR/PPR, EOI, SVR, LDR/DFR, ISR/IRR, ICR (fixed,
// lowest-priority, NMI, INIT and STARTUP IPIs, to physical or logical
// destinations; delivery status always reads idle), LVT registers and the
// timer (one-shot and periodic, wall clock, FAKEVMM_LAPIC_BUS_HZ input).
// A STARTUP IPI to a vCPU that got INIT and was never started makes the
// sender's vm_run return VM_EXITCODE_SPINUP_AP. All functions run with
// ctx->mu held.
#include <chrono>

#include "fakevmm_impl.h"
#include "uc_internal.h"

namespace {

int highest_bit(const uint32_t* bits) {
  for (int w = 7; w >= 0; w--) {
    if (bits[w] != 0) {
      return w * 32 + 31 - __builtin_clz(bits[w]);
    }
  }
  return -1;
}

uint32_t timer_divisor(uint32_t dcr) {
  uint32_t v = (dcr & 3) | ((dcr >> 1) & 4);
  return v == 7 ? 1 : (2u << v);
}

uint64_t timer_ticks_since(const fakevmm::Lapic& a, fakevmm::Clock::time_point now) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - a.timer_start).count();
  if (ns <= 0) {
    return 0;
  }
  uint64_t n = static_cast<uint64_t>(ns);
  uint64_t hz = FAKEVMM_LAPIC_BUS_HZ / timer_divisor(a.timer_divide);
  return (n / 1000000000ull) * hz + (n % 1000000000ull) * hz / 1000000000ull;
}

uint32_t ppr(const fakevmm::Lapic& a) {
  int isr = highest_bit(a.isr);
  uint32_t isr_class = isr < 0 ? 0 : static_cast<uint32_t>(isr) & 0xf0;
  return (a.tpr & 0xf0) >= isr_class ? a.tpr : isr_class;
}

// Logical destination (ICR bit 11) against a target's LDR: the flat model
// (DFR 0xF...) matches any common bit of eight; the cluster model (DFR
// 0x0...) matches the cluster in the high nibble and a bit in the low one.
bool logical_match(const fakevmm::Lapic& a, uint32_t dest) {
  const uint32_t ldr = a.ldr >> 24;
  if ((a.dfr >> 28) == 0xf) {
    return (ldr & dest) != 0;
  }
  return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0xf) != 0;
}

// The sender of an IPI to another vCPU usually waits for its answer, with
// PAUSE in the loop (Linux's call-function IPIs, TLB shootdowns): while
// every run slot is taken, its next PAUSE hands its slot over, so that the
// target takes the IPI at once instead of after the sender's time slice.
// Only then: a PAUSE loop that is a delay keeps its slice, and with a slot
// free the target runs beside the sender anyway.
void yield_on_pause(vcpu* self, vcpu* target) {
  if (target != self && self->ctx->running >= self->ctx->run_slots) {
    fvi_set_pause_exits(self->uc, 1);
  }
}

void send_ipi(vcpu* self, uint32_t lo, uint32_t hi) {
  vmctx* ctx = self->ctx;
  uint32_t mode = (lo >> 8) & 7;
  uint32_t shorthand = (lo >> 18) & 3;
  uint32_t dest = hi >> 24;
  int vector = static_cast<int>(lo & 0xff);
  bool level_assert = (lo & (1u << 14)) != 0;
  bool level_trigger = (lo & (1u << 15)) != 0;
  if (mode == 5 && level_trigger && !level_assert) {
    return;  // INIT level de-assert: nothing to do
  }
  const bool logical = (lo & (1u << 11)) != 0;
  bool delivered_lowest = false;
  for (int id = 0; id < FAKEVMM_MAXCPU && id < ctx->maxcpus; id++) {
    bool hit;
    switch (shorthand) {
      case 1:
        hit = id == self->id;
        break;
      case 2:
        hit = ctx->vcpus[id] != nullptr;
        break;
      case 3:
        hit = id != self->id && ctx->vcpus[id] != nullptr;
        break;
      default:
        if (dest == 0xff) {
          hit = ctx->vcpus[id] != nullptr;
        } else if (logical) {
          hit = ctx->vcpus[id] != nullptr && logical_match(ctx->vcpus[id]->lapic, dest);
        } else {
          hit = static_cast<uint32_t>(id) == dest;
        }
    }
    if (!hit || (mode == 1 && delivered_lowest)) {
      continue;
    }
    delivered_lowest = mode == 1;  // lowest priority: one of the targets takes it
    vcpu* t = ctx->vcpus[id];
    switch (mode) {
      case 0:  // fixed
      case 1:  // lowest priority: this vCPU is as good as any
        if (t != nullptr) {
          fakevmm::lapic_set_irr(t, vector);
          fakevmm::kick_locked(t);
          yield_on_pause(self, t);
        }
        break;
      case 4:  // NMI
        if (t != nullptr) {
          t->nmi_pending = true;
          fakevmm::kick_locked(t);
          yield_on_pause(self, t);
        }
        break;
      case 5:  // INIT
        if (id != self->id && (t == nullptr || !t->active)) {
          ctx->ap_init[id] = true;
        }
        break;
      case 6:  // STARTUP
        if (ctx->ap_init[id] && !ctx->ap_sipi[id] && (t == nullptr || !t->active)) {
          ctx->ap_sipi[id] = true;
          vm_exit e{};
          e.exitcode = VM_EXITCODE_SPINUP_AP;
          e.u.spinup_ap.vcpu = id;
          e.u.spinup_ap.rip = static_cast<uint64_t>(vector) << 12;
          self->queued_exits.push_back(e);
          fakevmm::kick_locked(self);
        }
        break;
      default:
        break;
    }
  }
}

}  // namespace

namespace fakevmm {

void lapic_set_irr(vcpu* v, int vector) { v->lapic.irr[vector / 32] |= 1u << (vector % 32); }

int lapic_pending_vector(vcpu* v) {
  int vec = highest_bit(v->lapic.irr);
  if (vec < 0) {
    return -1;
  }
  if ((static_cast<uint32_t>(vec) & 0xf0) <= (ppr(v->lapic) & 0xf0)) {
    return -1;
  }
  return vec;
}

void lapic_acknowledge(vcpu* v, int vector) {
  v->lapic.irr[vector / 32] &= ~(1u << (vector % 32));
  v->lapic.isr[vector / 32] |= 1u << (vector % 32);
}

void lapic_timer_update(vcpu* v, Clock::time_point now) {
  Lapic& a = v->lapic;
  if (!a.timer_running || a.timer_initial == 0) {
    return;
  }
  uint64_t periods = timer_ticks_since(a, now) / a.timer_initial;
  if (periods <= a.timer_periods_seen) {
    return;
  }
  a.timer_periods_seen = periods;
  bool periodic = ((a.lvt[0] >> 17) & 3) == 1;
  if (!periodic) {
    a.timer_running = false;
  }
  if (!(a.lvt[0] & 0x10000)) {
    lapic_set_irr(v, static_cast<int>(a.lvt[0] & 0xff));
  }
}

uint64_t lapic_read(vcpu* v, uint32_t offset) {
  Lapic& a = v->lapic;
  uint32_t reg = offset & 0xff0;
  switch (reg) {
    case 0x20:
      return static_cast<uint64_t>(v->id) << 24;
    case 0x30:
      return 0x00050014;  // version 0x14, 6 LVT entries
    case 0x80:
      return a.tpr;
    case 0x90:
      return 0;
    case 0xa0:
      return ppr(a);
    case 0xd0:
      return a.ldr;
    case 0xe0:
      return a.dfr;
    case 0xf0:
      return a.svr;
    case 0x280:
      return a.esr;
    case 0x300:
      return a.icr_lo & ~(1u << 12);
    case 0x310:
      return a.icr_hi;
    case 0x380:
      return a.timer_initial;
    case 0x390: {
      if (!a.timer_running || a.timer_initial == 0) {
        return 0;
      }
      uint64_t t = timer_ticks_since(a, Clock::now());
      bool periodic = ((a.lvt[0] >> 17) & 3) == 1;
      if (!periodic) {
        return t >= a.timer_initial ? 0 : a.timer_initial - t;
      }
      return a.timer_initial - t % a.timer_initial;
    }
    case 0x3e0:
      return a.timer_divide;
    default:
      break;
  }
  if (reg >= 0x100 && reg < 0x180) {
    return a.isr[(reg - 0x100) / 0x10];
  }
  if (reg >= 0x200 && reg < 0x280) {
    return a.irr[(reg - 0x200) / 0x10];
  }
  if (reg >= 0x320 && reg <= 0x370) {
    return a.lvt[(reg - 0x320) / 0x10];
  }
  return 0;
}

void lapic_write(vcpu* v, uint32_t offset, uint32_t value) {
  Lapic& a = v->lapic;
  uint32_t reg = offset & 0xff0;
  switch (reg) {
    case 0x80:
      a.tpr = value & 0xff;
      return;
    case 0xb0: {  // EOI
      int vec = highest_bit(a.isr);
      if (vec >= 0) {
        a.isr[vec / 32] &= ~(1u << (vec % 32));
      }
      return;
    }
    case 0xd0:
      a.ldr = value & 0xff000000u;
      return;
    case 0xe0:
      a.dfr = value | 0x0fffffffu;
      return;
    case 0xf0:
      a.svr = value;
      return;
    case 0x280:
      a.esr = 0;
      return;
    case 0x300:
      a.icr_lo = value;
      send_ipi(v, value, a.icr_hi);
      return;
    case 0x310:
      a.icr_hi = value;
      return;
    case 0x380:
      a.timer_initial = value;
      a.timer_start = Clock::now();
      a.timer_periods_seen = 0;
      a.timer_running = value != 0;
      return;
    case 0x3e0:
      a.timer_divide = value & 0xb;
      return;
    default:
      break;
  }
  if (reg >= 0x320 && reg <= 0x370) {
    a.lvt[(reg - 0x320) / 0x10] = value;
  }
}

}  // namespace fakevmm
