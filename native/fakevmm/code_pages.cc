// Fake vmm: guest code written by one vCPU and cached by another.
//
// Each vCPU is an engine of its own over the same guest RAM, and QEMU's
// check for self-modifying code only knows the blocks of the engine that
// writes. Linux patches its own text from one CPU (jump labels, static
// calls, kprobes: text_poke_bp), and the other vCPUs must then run the new
// bytes. So the VM keeps one record, per page of guest RAM, of which engines
// have translated code from it:
//   - an engine that translates its first block from a page sets its bit
//     (Unicorn's tlb_protect_code), and every other engine flushes its TLB
//     before it next runs, so that a write it had already let through to
//     that page now takes the code check;
//   - an engine's write to a page on which another engine has code goes
//     through the code check (vmm_tb_page_has_code) and is logged in the
//     ring of code writes (ctx->code_writes, shared with the host's own
//     writes through vm_code_modified);
//   - each engine drops its blocks over the logged writes before it next
//     runs (drop_stale_code), and clears its bit where no block is left.
// An engine running at that moment (each host CPU is a run slot) is kicked
// out of the emulator, so it drops them before it runs on: as on hardware,
// where a CPU may run the old bytes until it serialises, and the writer
// makes it (an IPI) before it relies on the new ones.
#include "fakevmm_impl.h"
#include "uc_internal.h"

static_assert(FAKEVMM_MAXCPU <= 16, "code_pages holds one bit per vCPU in 16");

namespace fakevmm {
namespace {

uint16_t bit_of(const vcpu* v) { return static_cast<uint16_t>(1u << v->id); }

// The record's entry for the page at `host` (a pointer into ctx->mem), or
// nullptr when guest RAM has none there.
std::atomic<uint16_t>* entry_of(VmCtx* ctx, const void* host) {
  const uint8_t* p = static_cast<const uint8_t*>(host);
  if (ctx->code_pages == nullptr || p < ctx->mem || p >= ctx->mem + ctx->mem_len) {
    return nullptr;
  }
  return &ctx->code_pages[static_cast<size_t>(p - ctx->mem) / kPageSize];
}

uint64_t gpa_of(VmCtx* ctx, const void* host) {
  uint64_t offset = static_cast<uint64_t>(static_cast<const uint8_t*>(host) - ctx->mem);
  return offset < ctx->lowmem ? offset : kHighmemBase + (offset - ctx->lowmem);
}

void code_added(void* opaque, void* host) {
  vcpu* v = static_cast<vcpu*>(opaque);
  std::atomic<uint16_t>* entry = entry_of(v->ctx, host);
  if (entry == nullptr || (entry->fetch_or(bit_of(v)) & bit_of(v)) != 0) {
    return;
  }
  std::lock_guard<std::mutex> lk(v->ctx->mu);
  for (vcpu* other : v->ctx->vcpus) {
    if (other != nullptr && other != v) {
      other->tlb_stale = true;
      if (other->in_emu) {
        kick_locked(other);  // running now: its TLB is flushed before it goes on
      }
    }
  }
}

// The engines other than v's with code on the page at `host` (bit n: vCPU n).
uint16_t others_with_code(vcpu* v, void* host) {
  std::atomic<uint16_t>* entry = entry_of(v->ctx, host);
  return entry == nullptr ? 0 : static_cast<uint16_t>(entry->load() & ~bit_of(v));
}

bool code_elsewhere(void* opaque, void* host) {
  return others_with_code(static_cast<vcpu*>(opaque), host) != 0;
}

void code_written(void* opaque, void* host, unsigned size) {
  vcpu* v = static_cast<vcpu*>(opaque);
  const uint16_t others = others_with_code(v, host);
  if (others == 0) {
    return;  // only this engine's code: QEMU dropped its blocks already
  }
  VmCtx* ctx = v->ctx;
  std::lock_guard<std::mutex> lk(ctx->mu);
  ctx->code_writes[ctx->code_gen % kCodeWriteLog] = CodeWrite{gpa_of(ctx, host), size, v->id};
  ctx->code_gen++;
  for (vcpu* other : ctx->vcpus) {
    if (other != nullptr && (others & bit_of(other)) != 0 && other->in_emu) {
      kick_locked(other);  // running now: it drops the blocks before it goes on
    }
  }
}

}  // namespace

void init_code_pages(VmCtx* ctx) {
  ctx->code_page_count = ctx->mem_len / kPageSize;
  ctx->code_pages = std::make_unique<std::atomic<uint16_t>[]>(ctx->code_page_count);
}

void attach_code_record(vcpu* v) {
  fvi_set_code_record(v->uc, v, code_added, code_elsewhere, code_written);
}

void forget_own_code(vcpu* v, size_t offset, size_t len) {
  VmCtx* ctx = v->ctx;
  if (ctx->code_pages == nullptr) {
    return;
  }
  for (size_t page = offset & ~(kPageSize - 1); page < offset + len; page += kPageSize) {
    std::atomic<uint16_t>& entry = ctx->code_pages[page / kPageSize];
    if ((entry.load() & bit_of(v)) != 0 && !fvi_page_has_own_code(v->uc, ctx->mem + page)) {
      entry.fetch_and(static_cast<uint16_t>(~bit_of(v)));
    }
  }
}

void forget_all_own_code(vcpu* v) {
  VmCtx* ctx = v->ctx;
  for (size_t i = 0; i < ctx->code_page_count; i++) {
    ctx->code_pages[i].fetch_and(static_cast<uint16_t>(~bit_of(v)));
  }
}

void refresh_code_tlb(vcpu* v) {
  if (v->tlb_stale.exchange(false)) {
    fvi_flush_tlb(v->uc);
  }
}

}  // namespace fakevmm
