// What the files of the KVM backend share: the conversions between KVM's
// register structures and RegisterFile (kvm_regs.cc) and the guest page walk
// (kvm_paging.cc). Nothing here opens a file descriptor.
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vmm/registers.h"
#include "vmm/vmm.h"

namespace vmm {
namespace kvm {

// MSRs the register file carries that KVM keeps outside sregs.
constexpr uint32_t kMsrKernelGsBase = 0xc0000102;

// Segment attributes: KVM's bit fields <-> the VMX access-rights layout of
// RegisterFile (type 0-3, S 4, DPL 5-6, P 7, AVL 12, L 13, D/B 14, G 15,
// unusable 16).
uint32_t accessFromKvm(const kvm_segment& seg);
void segmentToKvm(const Segment& in, kvm_segment* out);
void segmentFromKvm(const kvm_segment& in, Segment* out);

// The x87 tag word: KVM (FXSAVE) keeps one "not empty" bit per physical
// register; RegisterFile keeps the full two-bit tags, which follow from the
// register contents (st[i] is ST(i), 16 bytes apart as FXSAVE lays them out).
uint16_t fullTagWord(uint8_t abridged, uint16_t fsw, const uint8_t* st);
uint8_t abridgedTagWord(uint16_t full);

// The x87/SSE state in the FXSAVE legacy area of a KVM_GET_XSAVE buffer
// (the kvm_fpu of KVM_GET_FPU carries no MXCSR). fpuToXsave also marks x87
// and SSE state present in the XSAVE header.
constexpr size_t kXsaveLegacySize = 512 + 64;
void fpuFromXsave(const uint8_t* xsave, FpuState* out);
void fpuToXsave(const FpuState& in, uint8_t* xsave);

// GPRs, rip and rflags.
void regsFromKvm(const kvm_regs& in, RegisterFile* out);
void regsToKvm(const RegisterFile& in, kvm_regs* out);

// Segments, descriptor tables, control registers and EFER. sregs->apic_base
// and the pending-interrupt bitmap are left as they are (read them first).
void sregsFromKvm(const kvm_sregs& in, RegisterFile* out);
void sregsToKvm(const RegisterFile& in, kvm_sregs* out);

// A one-line summary of the state that explains a crash: rip, rsp, rflags,
// control registers, cs.
std::string describeRegisters(const RegisterFile& regs);

// The paging state a translation needs.
struct PagingState {
  uint64_t cr0 = 0, cr3 = 0, cr4 = 0, efer = 0;
  int cpl = 0;
};

// Guest-linear to guest-physical by walking the guest's page tables in `ram`
// (no paging, 32-bit with 4 MiB pages, PAE, 4-level and 5-level), honouring
// present, write (CR0.WP), user (CPL 3) and no-execute (EFER.NXE). Tables
// outside RAM are kError. Accessed and dirty bits are never written.
// `tables`, when given, receives the guest-physical page of every table
// entry read on the way.
Translation walkPageTables(const PagingState& paging, const MemoryRegion& ram, uint64_t gla,
                           int prot, uint64_t* gpa, std::vector<uint64_t>* tables = nullptr);

// A REP-prefixed string instruction (MOVS, STOS, LODS, CMPS, SCAS; not
// INS/OUTS, which exit as port I/O) at the start of `bytes`.
struct RepString {
  bool found = false;
  size_t length = 0;         // prefixes and opcode
  int counter_bits = 64;     // RCX, ECX or CX, from the address size
  bool stops_on_zf = false;  // CMPS/SCAS: REPE stops when ZF=0, REPNE when ZF=1
  bool repne = false;
};
// `code64`: 64-bit code segment; `default32`: CS.D in legacy/compat modes.
RepString decodeRepString(const uint8_t* bytes, size_t len, bool code64, bool default32);

}  // namespace kvm
}  // namespace vmm
