// Fake vmm: registers, segment descriptors, FPU state, capabilities and the
// architectural reset state.
#include <errno.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include "fakevmm_impl.h"
#include "uc_internal.h"

namespace {

template <typename T>
T fail(int err, T value) {
  errno = err;
  return value;
}

// Unicorn register ids for VM_REG_GUEST_RAX..R15, RSP, RIP, RFLAGS.
int uc_gpr(int reg) {
  switch (reg) {
    case VM_REG_GUEST_RAX:
      return UC_X86_REG_RAX;
    case VM_REG_GUEST_RBX:
      return UC_X86_REG_RBX;
    case VM_REG_GUEST_RCX:
      return UC_X86_REG_RCX;
    case VM_REG_GUEST_RDX:
      return UC_X86_REG_RDX;
    case VM_REG_GUEST_RSI:
      return UC_X86_REG_RSI;
    case VM_REG_GUEST_RDI:
      return UC_X86_REG_RDI;
    case VM_REG_GUEST_RBP:
      return UC_X86_REG_RBP;
    case VM_REG_GUEST_R8:
      return UC_X86_REG_R8;
    case VM_REG_GUEST_R9:
      return UC_X86_REG_R9;
    case VM_REG_GUEST_R10:
      return UC_X86_REG_R10;
    case VM_REG_GUEST_R11:
      return UC_X86_REG_R11;
    case VM_REG_GUEST_R12:
      return UC_X86_REG_R12;
    case VM_REG_GUEST_R13:
      return UC_X86_REG_R13;
    case VM_REG_GUEST_R14:
      return UC_X86_REG_R14;
    case VM_REG_GUEST_R15:
      return UC_X86_REG_R15;
    case VM_REG_GUEST_RSP:
      return UC_X86_REG_RSP;
    case VM_REG_GUEST_RIP:
      return UC_X86_REG_RIP;
    case VM_REG_GUEST_RFLAGS:
      return UC_X86_REG_RFLAGS;
    case VM_REG_GUEST_FS_BASE:
      return UC_X86_REG_FS_BASE;
    case VM_REG_GUEST_GS_BASE:
      return UC_X86_REG_GS_BASE;
    default:
      return -1;
  }
}

// fvi_seg_index for the segment-like registers, -1 otherwise.
int seg_index(int reg) {
  switch (reg) {
    case VM_REG_GUEST_ES:
      return FVI_ES;
    case VM_REG_GUEST_CS:
      return FVI_CS;
    case VM_REG_GUEST_SS:
      return FVI_SS;
    case VM_REG_GUEST_DS:
      return FVI_DS;
    case VM_REG_GUEST_FS:
      return FVI_FS;
    case VM_REG_GUEST_GS:
      return FVI_GS;
    case VM_REG_GUEST_LDTR:
      return FVI_LDTR;
    case VM_REG_GUEST_TR:
      return FVI_TR;
    case VM_REG_GUEST_GDTR:
      return FVI_GDTR;
    case VM_REG_GUEST_IDTR:
      return FVI_IDTR;
    default:
      return -1;
  }
}

int get_one(vcpu* v, int reg, uint64_t* val) {
  uc_engine* uc = v->uc;
  int id = uc_gpr(reg);
  if (id >= 0) {
    *val = 0;
    return uc_reg_read(uc, id, val) == UC_ERR_OK ? 0 : fail(EINVAL, -1);
  }
  int seg = seg_index(reg);
  if (seg >= 0 && seg <= FVI_TR) {
    fvi_seg s;
    fvi_get_seg(uc, seg, &s);
    *val = s.selector;
    return 0;
  }
  switch (reg) {
    case VM_REG_GUEST_CR0:
      *val = fvi_get_cr(uc, 0);
      return 0;
    case VM_REG_GUEST_CR2:
      *val = fvi_get_cr(uc, 2);
      return 0;
    case VM_REG_GUEST_CR3:
      *val = fvi_get_cr(uc, 3);
      return 0;
    case VM_REG_GUEST_CR4:
      *val = fvi_get_cr(uc, 4);
      return 0;
    case VM_REG_GUEST_EFER:
      *val = fvi_get_efer(uc);
      return 0;
    case VM_REG_GUEST_DR0:
      *val = fvi_get_dr(uc, 0);
      return 0;
    case VM_REG_GUEST_DR1:
      *val = fvi_get_dr(uc, 1);
      return 0;
    case VM_REG_GUEST_DR2:
      *val = fvi_get_dr(uc, 2);
      return 0;
    case VM_REG_GUEST_DR3:
      *val = fvi_get_dr(uc, 3);
      return 0;
    case VM_REG_GUEST_DR6:
      *val = fvi_get_dr(uc, 6);
      return 0;
    case VM_REG_GUEST_DR7:
      *val = fvi_get_dr(uc, 7);
      return 0;
    case VM_REG_GUEST_KGS_BASE:
      *val = fvi_get_kgs_base(uc);
      return 0;
    case VM_REG_GUEST_INTR_SHADOW:
      *val = static_cast<uint64_t>(fvi_get_intr_shadow(uc));
      return 0;
    case VM_REG_GUEST_TPR:
      *val = v->lapic.tpr >> 4;
      return 0;
    default:
      return fail(EINVAL, -1);
  }
}

int set_one(vcpu* v, int reg, uint64_t val) {
  uc_engine* uc = v->uc;
  int id = uc_gpr(reg);
  if (id >= 0) {
    if (uc_reg_write(uc, id, &val) != UC_ERR_OK) {
      return fail(EINVAL, -1);
    }
    if (reg == VM_REG_GUEST_RIP) {
      v->nextrip_pending = false;  // user space chose where to resume
      v->halted = false;
      v->halted_if0 = false;
      v->step_after_io = false;
    }
    return 0;
  }
  int seg = seg_index(reg);
  if (seg >= 0 && seg <= FVI_TR) {
    fvi_seg s;
    fvi_get_seg(uc, seg, &s);
    s.selector = static_cast<uint16_t>(val);
    fvi_set_seg(uc, seg, &s);
    return 0;
  }
  switch (reg) {
    case VM_REG_GUEST_CR0:
      fvi_set_cr(uc, 0, val);
      return 0;
    case VM_REG_GUEST_CR2:
      fvi_set_cr(uc, 2, val);
      return 0;
    case VM_REG_GUEST_CR3:
      fvi_set_cr(uc, 3, val);
      return 0;
    case VM_REG_GUEST_CR4:
      fvi_set_cr(uc, 4, val);
      return 0;
    case VM_REG_GUEST_EFER:
      fvi_set_efer(uc, val);
      return 0;
    case VM_REG_GUEST_DR0:
      fvi_set_dr(uc, 0, val);
      return 0;
    case VM_REG_GUEST_DR1:
      fvi_set_dr(uc, 1, val);
      return 0;
    case VM_REG_GUEST_DR2:
      fvi_set_dr(uc, 2, val);
      return 0;
    case VM_REG_GUEST_DR3:
      fvi_set_dr(uc, 3, val);
      return 0;
    case VM_REG_GUEST_DR6:
      fvi_set_dr(uc, 6, val);
      return 0;
    case VM_REG_GUEST_DR7:
      fvi_set_dr(uc, 7, val);
      return 0;
    case VM_REG_GUEST_KGS_BASE:
      fvi_set_kgs_base(uc, val);
      return 0;
    case VM_REG_GUEST_INTR_SHADOW:
      fvi_set_intr_shadow(uc, val != 0);
      return 0;
    case VM_REG_GUEST_TPR:
      v->lapic.tpr = static_cast<uint32_t>((val & 0xf) << 4);
      return 0;
    default:
      return fail(EINVAL, -1);
  }
}

// Register access needs the vCPU outside vm_run; the VM lock keeps vm_run
// from starting meanwhile.
template <typename F>
int with_idle_vcpu(vcpu* v, F f) {
  if (v == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(v->ctx->mu);
  if (v->in_run) {
    return fail(EBUSY, -1);
  }
  return f();
}

}  // namespace

namespace fakevmm {

void reset_registers(vcpu* v) {
  uc_engine* uc = v->uc;
  fvi_set_cr(uc, 0, 0x60000010);
  fvi_set_efer(uc, 0);
  fvi_set_cr(uc, 4, 0);
  fvi_set_cr(uc, 3, 0);
  fvi_set_cr(uc, 2, 0);
  static const int gprs[] = {UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RSI,
                             UC_X86_REG_RDI, UC_X86_REG_RBP, UC_X86_REG_RSP, UC_X86_REG_R8,
                             UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12,
                             UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15};
  uint64_t zero = 0;
  for (int r : gprs) {
    uc_reg_write(uc, r, &zero);
  }
  uint64_t edx = 0x600;  // family 6 signature, as after RESET
  uc_reg_write(uc, UC_X86_REG_RDX, &edx);
  uint64_t rflags = 2;
  uc_reg_write(uc, UC_X86_REG_RFLAGS, &rflags);
  for (int seg = FVI_ES; seg <= FVI_GS; seg++) {
    fvi_seg s{0, 0, 0xffff, 0x93};
    if (seg == FVI_CS) {
      s = fvi_seg{0xf000, 0xffff0000ull, 0xffff, 0x9b};
    }
    fvi_set_seg(uc, seg, &s);
  }
  fvi_seg ldtr{0, 0, 0xffff, 0x82};
  fvi_set_seg(uc, FVI_LDTR, &ldtr);
  fvi_seg tr{0, 0, 0xffff, 0x8b};
  fvi_set_seg(uc, FVI_TR, &tr);
  fvi_seg table{0, 0, 0xffff, 0};
  fvi_set_seg(uc, FVI_GDTR, &table);
  fvi_set_seg(uc, FVI_IDTR, &table);
  uint64_t rip = 0xfff0;
  uc_reg_write(uc, UC_X86_REG_RIP, &rip);
  fvi_set_dr(uc, 7, 0x400);
  for (int i = 0; i < 4; i++) {
    fvi_set_dr(uc, i, 0);
  }
  fvi_set_dr(uc, 6, 0xffff0ff0);
  fvi_set_kgs_base(uc, 0);
  fvi_set_intr_shadow(uc, 0);
  uint16_t fcw = 0x37f, ftw = 0xffff, fsw = 0;
  uint32_t mxcsr = 0x1f80;
  uc_reg_write(uc, UC_X86_REG_FPCW, &fcw);
  uc_reg_write(uc, UC_X86_REG_FPSW, &fsw);
  uc_reg_write(uc, UC_X86_REG_FPTAG, &ftw);
  uc_reg_write(uc, UC_X86_REG_MXCSR, &mxcsr);
  v->lapic = Lapic();
  v->nextrip_pending = false;
  v->halted = false;
  v->halted_if0 = false;
  v->exc_pending = false;
  v->nmi_pending = false;
}

}  // namespace fakevmm

extern "C" {

int vm_get_register(struct vcpu* vcpu, int reg, uint64_t* retval) {
  if (retval == nullptr) {
    return fail(EINVAL, -1);
  }
  return with_idle_vcpu(vcpu, [&] { return get_one(vcpu, reg, retval); });
}

int vm_set_register(struct vcpu* vcpu, int reg, uint64_t val) {
  return with_idle_vcpu(vcpu, [&] { return set_one(vcpu, reg, val); });
}

int vm_get_register_set(struct vcpu* vcpu, unsigned int count, const int* regnums,
                        uint64_t* regvals) {
  if (count > 0 && (regnums == nullptr || regvals == nullptr)) {
    return fail(EINVAL, -1);
  }
  return with_idle_vcpu(vcpu, [&] {
    for (unsigned int i = 0; i < count; i++) {
      if (get_one(vcpu, regnums[i], &regvals[i]) != 0) {
        return -1;
      }
    }
    return 0;
  });
}

int vm_set_register_set(struct vcpu* vcpu, unsigned int count, const int* regnums,
                        uint64_t* regvals) {
  if (count > 0 && (regnums == nullptr || regvals == nullptr)) {
    return fail(EINVAL, -1);
  }
  return with_idle_vcpu(vcpu, [&] {
    for (unsigned int i = 0; i < count; i++) {
      if (set_one(vcpu, regnums[i], regvals[i]) != 0) {
        return -1;
      }
    }
    return 0;
  });
}

int vm_set_desc(struct vcpu* vcpu, int reg, uint64_t base, uint32_t limit, uint32_t access) {
  int seg = seg_index(reg);
  if (seg < 0) {
    return fail(EINVAL, -1);
  }
  return with_idle_vcpu(vcpu, [&] {
    fvi_seg s;
    fvi_get_seg(vcpu->uc, seg, &s);
    s.base = base;
    s.limit = limit;
    s.access = access;
    fvi_set_seg(vcpu->uc, seg, &s);
    return 0;
  });
}

int vm_get_desc(struct vcpu* vcpu, int reg, uint64_t* base, uint32_t* limit, uint32_t* access) {
  int seg = seg_index(reg);
  if (seg < 0 || base == nullptr || limit == nullptr || access == nullptr) {
    return fail(EINVAL, -1);
  }
  return with_idle_vcpu(vcpu, [&] {
    fvi_seg s;
    fvi_get_seg(vcpu->uc, seg, &s);
    *base = s.base;
    *limit = s.limit;
    *access = s.access;
    return 0;
  });
}

int vm_get_seg_desc(struct vcpu* vcpu, int reg, struct seg_desc* seg_desc) {
  if (seg_desc == nullptr) {
    return fail(EINVAL, -1);
  }
  return vm_get_desc(vcpu, reg, &seg_desc->base, &seg_desc->limit, &seg_desc->access);
}

int vcpu_reset(struct vcpu* vcpu) {
  return with_idle_vcpu(vcpu, [&] {
    fakevmm::reset_registers(vcpu);
    return 0;
  });
}

namespace {

// Every Unicorn register that makes up struct fakevmm_fpu, and where it
// lives there, in the order a write must follow: FSW first, because its TOP
// field decides which physical register ST(i) names.
struct FpuField {
  int reg;
  size_t offset;
};

std::vector<FpuField> fpuFields() {
  std::vector<FpuField> fields = {{UC_X86_REG_FPSW, offsetof(fakevmm_fpu, fsw)}};
  for (int i = 0; i < 8; i++) {
    fields.push_back({UC_X86_REG_ST0 + i, offsetof(fakevmm_fpu, st) + 10 * static_cast<size_t>(i)});
  }
  fields.insert(fields.end(), {{UC_X86_REG_FPCW, offsetof(fakevmm_fpu, fcw)},
                               {UC_X86_REG_FPTAG, offsetof(fakevmm_fpu, ftw)},
                               {UC_X86_REG_FOP, offsetof(fakevmm_fpu, fop)},
                               {UC_X86_REG_FIP, offsetof(fakevmm_fpu, fip)},
                               {UC_X86_REG_FCS, offsetof(fakevmm_fpu, fcs)},
                               {UC_X86_REG_FDP, offsetof(fakevmm_fpu, fdp)},
                               {UC_X86_REG_FDS, offsetof(fakevmm_fpu, fds)}});
  for (int i = 0; i < 16; i++) {
    fields.push_back(
        {UC_X86_REG_XMM0 + i, offsetof(fakevmm_fpu, xmm) + 16 * static_cast<size_t>(i)});
  }
  fields.push_back({UC_X86_REG_MXCSR, offsetof(fakevmm_fpu, mxcsr)});
  return fields;
}

const std::vector<FpuField> kFpuFields = fpuFields();

}  // namespace

int vm_get_fpu_state(struct vcpu* vcpu, struct fakevmm_fpu* fpu) {
  if (fpu == nullptr) {
    return fail(EINVAL, -1);
  }
  return with_idle_vcpu(vcpu, [&] {
    std::memset(fpu, 0, sizeof(*fpu));
    for (const FpuField& f : kFpuFields) {
      uc_reg_read(vcpu->uc, f.reg, reinterpret_cast<uint8_t*>(fpu) + f.offset);
    }
    return 0;
  });
}

int vm_set_fpu_state(struct vcpu* vcpu, const struct fakevmm_fpu* fpu) {
  if (fpu == nullptr) {
    return fail(EINVAL, -1);
  }
  return with_idle_vcpu(vcpu, [&] {
    for (const FpuField& f : kFpuFields) {
      uc_reg_write(vcpu->uc, f.reg, reinterpret_cast<const uint8_t*>(fpu) + f.offset);
    }
    return 0;
  });
}

static const char* const kCapNames[VM_CAP_MAX] = {
    "hlt_exit", "mtrap_exit", "pause_exit", "unrestricted_guest", "enable_invpcid", "bpt_exit",
    "rdpid",    "rdtscp",     "ipi_exit",   "mask_hwintr",        "rflags_tf",
};

int vm_capability_name2type(const char* capname) {
  if (capname == nullptr) {
    return fail(EINVAL, -1);
  }
  for (int i = 0; i < VM_CAP_MAX; i++) {
    if (std::strcmp(kCapNames[i], capname) == 0) {
      return i;
    }
  }
  return fail(ENOENT, -1);
}

const char* vm_capability_type2name(int type) {
  if (type < 0 || type >= VM_CAP_MAX) {
    return nullptr;
  }
  return kCapNames[type];
}

// Modelled: HALT_EXIT, MTRAP_EXIT, BPT_EXIT, MASK_HWINTR. Accepted as no-ops:
// PAUSE_EXIT (never exits), UNRESTRICTED_GUEST (always true: real mode runs),
// RDPID, RDTSCP, ENABLE_INVPCID. Others: ENOENT.
static bool cap_supported(int cap) {
  switch (cap) {
    case VM_CAP_HALT_EXIT:
    case VM_CAP_MTRAP_EXIT:
    case VM_CAP_BPT_EXIT:
    case VM_CAP_MASK_HWINTR:
    case VM_CAP_PAUSE_EXIT:
    case VM_CAP_UNRESTRICTED_GUEST:
    case VM_CAP_RDPID:
    case VM_CAP_RDTSCP:
    case VM_CAP_ENABLE_INVPCID:
      return true;
    default:
      return false;
  }
}

int vm_get_capability(struct vcpu* vcpu, enum vm_cap_type cap, int* retval) {
  if (vcpu == nullptr || retval == nullptr || cap < 0 || cap >= VM_CAP_MAX) {
    return fail(EINVAL, -1);
  }
  if (!cap_supported(cap)) {
    return fail(ENOENT, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  *retval = cap == VM_CAP_UNRESTRICTED_GUEST ? 1 : vcpu->caps[cap];
  return 0;
}

int vm_set_capability(struct vcpu* vcpu, enum vm_cap_type cap, int val) {
  if (vcpu == nullptr || cap < 0 || cap >= VM_CAP_MAX) {
    return fail(EINVAL, -1);
  }
  if (!cap_supported(cap)) {
    return fail(ENOENT, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  vcpu->caps[cap] = val != 0;
  if (cap == VM_CAP_MASK_HWINTR && val == 0) {
    vcpu->cv.notify_all();
  }
  return 0;
}

}  // extern "C"
