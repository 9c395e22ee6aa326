// The full architectural state of one x86-64 vCPU, in the form every backend
// fills and the N-API layer converts. Segment access rights use the VMX
// access-rights layout (bhyve's seg_desc.access); KVM maps onto it.
#pragma once

#include <cstdint>

namespace vmm {

enum Gpr {
  kRax,
  kRbx,
  kRcx,
  kRdx,
  kRsi,
  kRdi,
  kRbp,
  kRsp,
  kR8,
  kR9,
  kR10,
  kR11,
  kR12,
  kR13,
  kR14,
  kR15,
  kGprCount
};

// Same order as lib/vmm/registers.ts SEGMENT_NAMES.
enum Seg { kEs, kCs, kSs, kDs, kFs, kGs, kLdtr, kTr, kSegCount };

constexpr uint32_t kAccessUnusable = 1u << 16;

struct Segment {
  uint64_t base = 0;
  uint32_t limit = 0;
  uint32_t access = 0;
  uint16_t selector = 0;
};

struct TableRegister {
  uint64_t base = 0;
  uint32_t limit = 0;
};

struct FpuState {
  uint8_t st[8][10] = {};
  uint8_t xmm[16][16] = {};
  uint64_t fip = 0;
  uint64_t fdp = 0;
  uint32_t mxcsr = 0;
  uint16_t fcw = 0;
  uint16_t fsw = 0;
  uint16_t ftw = 0;  // full tag word (two bits per register)
  uint16_t fop = 0;
  uint16_t fcs = 0;
  uint16_t fds = 0;
};

struct RegisterFile {
  uint64_t gpr[kGprCount] = {};
  uint64_t rip = 0;
  uint64_t rflags = 0;
  uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0, cr8 = 0;
  uint64_t efer = 0;
  uint64_t kernel_gs_base = 0;
  uint64_t dr[4] = {};
  uint64_t dr6 = 0, dr7 = 0;
  Segment seg[kSegCount];
  TableRegister gdtr, idtr;
  FpuState fpu;
};

}  // namespace vmm
