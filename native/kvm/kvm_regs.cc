// Conversions between KVM's register structures and RegisterFile.
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "kvm/kvm_internal.h"

namespace vmm {
namespace kvm {

namespace {

// RegisterFile's segment order (kEs .. kTr) in kvm_sregs.
kvm_segment* sregSegment(kvm_sregs* sregs, int seg) {
  switch (seg) {
    case kEs:
      return &sregs->es;
    case kCs:
      return &sregs->cs;
    case kSs:
      return &sregs->ss;
    case kDs:
      return &sregs->ds;
    case kFs:
      return &sregs->fs;
    case kGs:
      return &sregs->gs;
    case kLdtr:
      return &sregs->ldt;
    default:
      return &sregs->tr;
  }
}

const kvm_segment* sregSegment(const kvm_sregs* sregs, int seg) {
  return sregSegment(const_cast<kvm_sregs*>(sregs), seg);
}

// The tag an x87 register's contents deserve: 0 valid, 1 zero, 2 special.
uint16_t classify(const uint8_t* reg) {
  uint64_t mantissa;
  std::memcpy(&mantissa, reg, 8);
  const uint16_t exponent = static_cast<uint16_t>((reg[8] | reg[9] << 8) & 0x7fff);
  if (exponent == 0x7fff) return 2;                 // infinity, NaN
  if (exponent == 0) return mantissa == 0 ? 1 : 2;  // zero; denormal
  return (mantissa >> 63) != 0 ? 0 : 2;             // normal; unnormal
}

}  // namespace

uint32_t accessFromKvm(const kvm_segment& seg) {
  return (seg.type & 0xfu) | (seg.s & 1u) << 4 | (seg.dpl & 3u) << 5 | (seg.present & 1u) << 7 |
         (seg.avl & 1u) << 12 | (seg.l & 1u) << 13 | (seg.db & 1u) << 14 | (seg.g & 1u) << 15 |
         (seg.unusable & 1u) << 16;
}

void segmentFromKvm(const kvm_segment& in, Segment* out) {
  out->base = in.base;
  out->limit = in.limit;
  out->selector = in.selector;
  out->access = accessFromKvm(in);
}

void segmentToKvm(const Segment& in, kvm_segment* out) {
  std::memset(out, 0, sizeof *out);
  out->base = in.base;
  out->limit = in.limit;
  out->selector = in.selector;
  out->type = in.access & 0xf;
  out->s = (in.access >> 4) & 1;
  out->dpl = (in.access >> 5) & 3;
  out->present = (in.access >> 7) & 1;
  out->avl = (in.access >> 12) & 1;
  out->l = (in.access >> 13) & 1;
  out->db = (in.access >> 14) & 1;
  out->g = (in.access >> 15) & 1;
  out->unusable = (in.access >> 16) & 1;
}

uint16_t fullTagWord(uint8_t abridged, uint16_t fsw, const uint8_t* st) {
  const int top = (fsw >> 11) & 7;
  uint16_t full = 0;
  for (int physical = 0; physical < 8; physical++) {
    uint16_t tag = 3;  // empty
    if (abridged & (1u << physical)) tag = classify(st + 16 * ((physical - top) & 7));
    full |= static_cast<uint16_t>(tag << (2 * physical));
  }
  return full;
}

uint8_t abridgedTagWord(uint16_t full) {
  uint8_t abridged = 0;
  for (int physical = 0; physical < 8; physical++) {
    if (((full >> (2 * physical)) & 3) != 3) abridged |= static_cast<uint8_t>(1u << physical);
  }
  return abridged;
}

namespace {

// The FXSAVE (64-bit format) legacy area, and the XSAVE header after it.
constexpr size_t kFcw = 0, kFsw = 2, kFtw = 4, kFop = 6, kFip = 8, kFdp = 16, kMxcsr = 24, kSt = 32,
                 kXmm = 160, kXstateBv = 512;
constexpr uint64_t kXfeatureX87Sse = 3;

template <typename T>
T load(const uint8_t* at) {
  T value;
  std::memcpy(&value, at, sizeof value);
  return value;
}

template <typename T>
void store(uint8_t* at, T value) {
  std::memcpy(at, &value, sizeof value);
}

}  // namespace

void fpuFromXsave(const uint8_t* x, FpuState* out) {
  for (int i = 0; i < 8; i++) std::memcpy(out->st[i], x + kSt + 16 * i, sizeof out->st[i]);
  std::memcpy(out->xmm, x + kXmm, sizeof out->xmm);
  out->fcw = load<uint16_t>(x + kFcw);
  out->fsw = load<uint16_t>(x + kFsw);
  out->ftw = fullTagWord(x[kFtw], out->fsw, x + kSt);
  out->fop = load<uint16_t>(x + kFop);
  out->fip = load<uint64_t>(x + kFip);
  out->fdp = load<uint64_t>(x + kFdp);
  // The 64-bit FXSAVE format has no FCS/FDS.
  out->fcs = 0;
  out->fds = 0;
  out->mxcsr = load<uint32_t>(x + kMxcsr);
}

void fpuToXsave(const FpuState& in, uint8_t* x) {
  for (int i = 0; i < 8; i++) {
    std::memset(x + kSt + 16 * i, 0, 16);
    std::memcpy(x + kSt + 16 * i, in.st[i], sizeof in.st[i]);
  }
  std::memcpy(x + kXmm, in.xmm, sizeof in.xmm);
  store<uint16_t>(x + kFcw, in.fcw);
  store<uint16_t>(x + kFsw, in.fsw);
  x[kFtw] = abridgedTagWord(in.ftw);
  store<uint16_t>(x + kFop, in.fop);
  store<uint64_t>(x + kFip, in.fip);
  store<uint64_t>(x + kFdp, in.fdp);
  store<uint32_t>(x + kMxcsr, in.mxcsr);
  store<uint64_t>(x + kXstateBv, load<uint64_t>(x + kXstateBv) | kXfeatureX87Sse);
}

void regsFromKvm(const kvm_regs& in, RegisterFile* out) {
  const uint64_t gprs[kGprCount] = {in.rax, in.rbx, in.rcx, in.rdx, in.rsi, in.rdi, in.rbp, in.rsp,
                                    in.r8,  in.r9,  in.r10, in.r11, in.r12, in.r13, in.r14, in.r15};
  std::memcpy(out->gpr, gprs, sizeof gprs);
  out->rip = in.rip;
  out->rflags = in.rflags;
}

void regsToKvm(const RegisterFile& in, kvm_regs* out) {
  std::memset(out, 0, sizeof *out);
  out->rax = in.gpr[kRax], out->rbx = in.gpr[kRbx], out->rcx = in.gpr[kRcx];
  out->rdx = in.gpr[kRdx], out->rsi = in.gpr[kRsi], out->rdi = in.gpr[kRdi];
  out->rbp = in.gpr[kRbp], out->rsp = in.gpr[kRsp];
  out->r8 = in.gpr[kR8], out->r9 = in.gpr[kR9], out->r10 = in.gpr[kR10];
  out->r11 = in.gpr[kR11], out->r12 = in.gpr[kR12], out->r13 = in.gpr[kR13];
  out->r14 = in.gpr[kR14], out->r15 = in.gpr[kR15];
  out->rip = in.rip;
  out->rflags = in.rflags;
}

void sregsFromKvm(const kvm_sregs& in, RegisterFile* out) {
  for (int s = 0; s < kSegCount; s++) segmentFromKvm(*sregSegment(&in, s), &out->seg[s]);
  out->gdtr = TableRegister{in.gdt.base, in.gdt.limit};
  out->idtr = TableRegister{in.idt.base, in.idt.limit};
  out->cr0 = in.cr0;
  out->cr2 = in.cr2;
  out->cr3 = in.cr3;
  out->cr4 = in.cr4;
  out->cr8 = in.cr8;
  out->efer = in.efer;
}

void sregsToKvm(const RegisterFile& in, kvm_sregs* out) {
  for (int s = 0; s < kSegCount; s++) segmentToKvm(in.seg[s], sregSegment(out, s));
  out->gdt.base = in.gdtr.base;
  out->gdt.limit = static_cast<uint16_t>(in.gdtr.limit);
  std::memset(out->gdt.padding, 0, sizeof out->gdt.padding);
  out->idt.base = in.idtr.base;
  out->idt.limit = static_cast<uint16_t>(in.idtr.limit);
  std::memset(out->idt.padding, 0, sizeof out->idt.padding);
  out->cr0 = in.cr0;
  out->cr2 = in.cr2;
  out->cr3 = in.cr3;
  out->cr4 = in.cr4;
  out->cr8 = in.cr8;
  out->efer = in.efer;
}

std::string describeRegisters(const RegisterFile& r) {
  char line[320];
  std::snprintf(line, sizeof line,
                "rip=0x%" PRIx64 " rsp=0x%" PRIx64 " rflags=0x%" PRIx64 " cr0=0x%" PRIx64
                " cr2=0x%" PRIx64 " cr3=0x%" PRIx64 " cr4=0x%" PRIx64 " efer=0x%" PRIx64
                " cs=0x%x (base 0x%" PRIx64 ", access 0x%x) idtr=0x%" PRIx64 "/0x%x",
                r.rip, r.gpr[kRsp], r.rflags, r.cr0, r.cr2, r.cr3, r.cr4, r.efer,
                r.seg[kCs].selector, r.seg[kCs].base, r.seg[kCs].access, r.idtr.base, r.idtr.limit);
  return line;
}

}  // namespace kvm
}  // namespace vmm
