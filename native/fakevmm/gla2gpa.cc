// Fake vmm: guest-linear to guest-physical translation by walking the guest's
// page tables in guest RAM (32-bit, PAE, 4-level and 5-level paging; 4 KiB,
// 2 MiB, 4 MiB and 1 GiB pages; present, write (with CR0.WP), user and NX
// checks). Accessed/dirty bits are never modified.
#include <errno.h>
#include <sys/mman.h>

#include <cstring>

#include "fakevmm_impl.h"
#include "uc_internal.h"

namespace {

constexpr uint64_t kPresent = 1, kWrite = 2, kUser = 4, kLarge = 0x80;
constexpr uint64_t kNx = 1ull << 63;
constexpr uint64_t kAddr64 = 0x000ffffffffff000ull;

template <typename T>
T fail(int err, T value) {
  errno = err;
  return value;
}

bool read_pte(vmctx* ctx, uint64_t gpa, int size, uint64_t* out) {
  uint8_t* p = fakevmm::gpa_ptr(ctx, gpa, static_cast<size_t>(size));
  if (p == nullptr) {
    return false;
  }
  uint64_t v = 0;
  std::memcpy(&v, p, static_cast<size_t>(size));
  *out = v;
  return true;
}

}  // namespace

namespace fakevmm {

// Returns 0 with *fault set to 0 (translated) or 1 (page fault), or -1 with
// errno when a page-table entry lies outside guest RAM.
int walk(vcpu* v, const vm_guest_paging* pg, uint64_t gla, int prot, uint64_t* gpa, int* fault) {
  *fault = 0;
  if (pg->paging_mode == PAGING_MODE_FLAT) {
    *gpa = gla;
    return 0;
  }
  uint64_t cr0 = fvi_get_cr(v->uc, 0), efer = fvi_get_efer(v->uc);
  bool wp = (cr0 & (1u << 16)) != 0;
  bool nxe = (efer & (1u << 11)) != 0;
  bool user = pg->cpl == 3;
  bool writable = true, user_ok = true, exec_ok = true;
  vmctx* ctx = v->ctx;

  auto check = [&](uint64_t pte) {
    writable = writable && (pte & kWrite);
    user_ok = user_ok && (pte & kUser);
    if (nxe && (pte & kNx)) {
      exec_ok = false;
    }
  };
  auto finish = [&](uint64_t frame, uint64_t offset_mask) {
    if ((prot & PROT_WRITE) && !writable && (user || wp)) {
      *fault = 1;
      return 0;
    }
    if (user && !user_ok) {
      *fault = 1;
      return 0;
    }
    if ((prot & PROT_EXEC) && !exec_ok) {
      *fault = 1;
      return 0;
    }
    *gpa = frame | (gla & offset_mask);
    return 0;
  };

  if (pg->paging_mode == PAGING_MODE_32) {
    uint64_t table = pg->cr3 & 0xfffff000ull;
    uint32_t la = static_cast<uint32_t>(gla);
    uint64_t pde;
    if (!read_pte(ctx, table + ((la >> 22) & 0x3ff) * 4, 4, &pde)) {
      return fail(EFAULT, -1);
    }
    if (!(pde & kPresent)) {
      *fault = 1;
      return 0;
    }
    check(pde);
    if (pde & kLarge) {
      // 4 MiB page; bits 13-20 of the entry are address bits 32-39.
      uint64_t frame = (pde & 0xffc00000ull) | ((pde & 0x1fe000ull) << 19);
      return finish(frame, 0x3fffff);
    }
    uint64_t pte;
    if (!read_pte(ctx, (pde & 0xfffff000ull) + ((la >> 12) & 0x3ff) * 4, 4, &pte)) {
      return fail(EFAULT, -1);
    }
    if (!(pte & kPresent)) {
      *fault = 1;
      return 0;
    }
    check(pte);
    return finish(pte & 0xfffff000ull, 0xfff);
  }

  int levels;
  uint64_t table;
  if (pg->paging_mode == PAGING_MODE_PAE) {
    uint32_t la = static_cast<uint32_t>(gla);
    uint64_t pdpte;
    if (!read_pte(ctx, (pg->cr3 & 0xffffffe0ull) + ((la >> 30) & 3) * 8, 8, &pdpte)) {
      return fail(EFAULT, -1);
    }
    if (!(pdpte & kPresent)) {
      *fault = 1;
      return 0;
    }
    // PAE PDPTEs carry no R/W or U/S permissions.
    table = pdpte & kAddr64;
    levels = 2;
    gla = la;
  } else {
    int bits = pg->paging_mode == PAGING_MODE_64_LA57 ? 57 : 48;
    int64_t sext = static_cast<int64_t>(gla << (64 - bits)) >> (64 - bits);
    if (static_cast<uint64_t>(sext) != gla) {
      *fault = 1;  // non-canonical
      return 0;
    }
    table = pg->cr3 & kAddr64;
    levels = pg->paging_mode == PAGING_MODE_64_LA57 ? 5 : 4;
  }
  for (int level = levels; level >= 1; level--) {
    int shift = 12 + 9 * (level - 1);
    uint64_t entry;
    if (!read_pte(ctx, table + ((gla >> shift) & 0x1ff) * 8, 8, &entry)) {
      return fail(EFAULT, -1);
    }
    if (!(entry & kPresent)) {
      *fault = 1;
      return 0;
    }
    check(entry);
    if (level == 1) {
      return finish(entry & kAddr64, 0xfff);
    }
    if ((level == 2 || level == 3) && (entry & kLarge)) {
      uint64_t size_mask = (1ull << shift) - 1;
      return finish(entry & kAddr64 & ~size_mask, size_mask);
    }
    table = entry & kAddr64;
  }
  *fault = 1;
  return 0;
}

}  // namespace fakevmm

extern "C" {

int vm_gla2gpa_nofault(struct vcpu* vcpu, struct vm_guest_paging* paging, uint64_t gla, int prot,
                       uint64_t* gpa, int* fault) {
  if (vcpu == nullptr || paging == nullptr || gpa == nullptr || fault == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  if (vcpu->in_run) {
    return fail(EBUSY, -1);
  }
  return fakevmm::walk(vcpu, paging, gla, prot, gpa, fault);
}

int vm_gla2gpa(struct vcpu* vcpu, struct vm_guest_paging* paging, uint64_t gla, int prot,
               uint64_t* gpa, int* fault) {
  int r = vm_gla2gpa_nofault(vcpu, paging, gla, prot, gpa, fault);
  if (r == 0 && *fault) {
    // As bhyve does, a failed translation injects #PF into the guest. The
    // error code is rebuilt from the access type (P bit not tracked: 0).
    uint32_t err = ((prot & PROT_WRITE) ? 2u : 0u) | (paging->cpl == 3 ? 4u : 0u) |
                   ((prot & PROT_EXEC) ? 16u : 0u);
    std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
    fvi_set_cr(vcpu->uc, 2, gla);
    vcpu->exc_pending = true;
    vcpu->exc_vector = 14;
    vcpu->exc_has_err = true;
    vcpu->exc_err = err;
  }
  return r;
}

}  // extern "C"
