// The guest page walk behind KvmVmm::gla2gpa. KVM_TRANSLATE exists but checks
// no protection (it reports a writable/user bit and leaves the decision to
// the caller, and not every kernel fills them the same way), so the backend
// walks the tables itself, as a CPU would for the given access.
#include <cstring>
#include <vector>

#include "kvm/kvm_internal.h"

namespace vmm {
namespace kvm {

namespace {

constexpr uint64_t kPte_P = 1ull << 0, kPte_RW = 1ull << 1, kPte_US = 1ull << 2;
constexpr uint64_t kPte_PS = 1ull << 7, kPte_XD = 1ull << 63;
constexpr uint64_t kFrameMask = 0x000ffffffffff000ull;
constexpr uint64_t kCr0_PE = 1ull << 0, kCr0_WP = 1ull << 16, kCr0_PG = 1ull << 31;
constexpr uint64_t kCr4_PSE = 1ull << 4, kCr4_PAE = 1ull << 5, kCr4_LA57 = 1ull << 12;
constexpr uint64_t kEfer_LMA = 1ull << 10, kEfer_NXE = 1ull << 11;

// Collects the permissions along the walk and decides at the leaf.
class Walk {
 public:
  Walk(const PagingState& paging, const MemoryRegion& ram, int prot, std::vector<uint64_t>* tables)
      : ram_(ram),
        tables_(tables),
        prot_(prot),
        user_(paging.cpl == 3),
        wp_((paging.cr0 & kCr0_WP) != 0),
        nxe_((paging.efer & kEfer_NXE) != 0) {}

  // Reads one entry; false when it lies outside RAM.
  bool read(uint64_t gpa, int size, uint64_t* entry) const {
    if (gpa < ram_.gpa || gpa - ram_.gpa > ram_.size ||
        ram_.size - (gpa - ram_.gpa) < static_cast<uint64_t>(size)) {
      return false;
    }
    if (tables_ != nullptr) tables_->push_back(gpa & ~0xfffull);
    uint64_t value = 0;
    std::memcpy(&value, ram_.host + (gpa - ram_.gpa), size);
    *entry = value;
    return true;
  }

  void note(uint64_t entry, bool has_xd) {
    writable_ = writable_ && (entry & kPte_RW) != 0;
    user_ok_ = user_ok_ && (entry & kPte_US) != 0;
    if (has_xd && nxe_ && (entry & kPte_XD) != 0) executable_ = false;
  }

  Translation leaf(uint64_t frame, uint64_t offset_mask, uint64_t gla, uint64_t* gpa) const {
    if ((prot_ & kProtWrite) && !writable_ && (user_ || wp_)) return Translation::kFault;
    if (user_ && !user_ok_) return Translation::kFault;
    if ((prot_ & kProtExec) && !executable_) return Translation::kFault;
    *gpa = (frame & ~offset_mask) | (gla & offset_mask);
    return Translation::kOk;
  }

 private:
  const MemoryRegion& ram_;
  std::vector<uint64_t>* tables_;
  int prot_;
  bool user_, wp_, nxe_;
  bool writable_ = true, user_ok_ = true, executable_ = true;
};

Translation walk32(Walk& walk, uint64_t cr3, bool pse, uint32_t la, uint64_t* gpa) {
  uint64_t pde;
  if (!walk.read((cr3 & 0xfffff000ull) + ((la >> 22) & 0x3ff) * 4, 4, &pde)) {
    return Translation::kError;
  }
  if (!(pde & kPte_P)) return Translation::kFault;
  walk.note(pde, false);
  if (pse && (pde & kPte_PS)) {
    // A 4 MiB page: PDE bits 13-20 hold physical address bits 32-39.
    const uint64_t frame = (pde & 0xffc00000ull) | ((pde >> 13) & 0xffull) << 32;
    return walk.leaf(frame, 0x3fffff, la, gpa);
  }
  uint64_t pte;
  if (!walk.read((pde & 0xfffff000ull) + ((la >> 12) & 0x3ff) * 4, 4, &pte)) {
    return Translation::kError;
  }
  if (!(pte & kPte_P)) return Translation::kFault;
  walk.note(pte, false);
  return walk.leaf(pte & 0xfffff000ull, 0xfff, la, gpa);
}

// The 64-bit-entry levels shared by PAE, 4-level and 5-level paging: `levels`
// tables of 512 entries starting at `table`.
Translation walk64(Walk& walk, uint64_t table, int levels, uint64_t gla, uint64_t* gpa) {
  for (int level = levels; level >= 1; level--) {
    const int shift = 12 + 9 * (level - 1);
    uint64_t entry;
    if (!walk.read(table + ((gla >> shift) & 0x1ff) * 8, 8, &entry)) return Translation::kError;
    if (!(entry & kPte_P)) return Translation::kFault;
    walk.note(entry, true);
    const uint64_t frame = entry & kFrameMask;
    if (level == 1) return walk.leaf(frame, 0xfff, gla, gpa);
    if ((level == 2 || level == 3) && (entry & kPte_PS)) {
      return walk.leaf(frame, (1ull << shift) - 1, gla, gpa);
    }
    table = frame;
  }
  return Translation::kFault;
}

}  // namespace

Translation walkPageTables(const PagingState& paging, const MemoryRegion& ram, uint64_t gla,
                           int prot, uint64_t* gpa, std::vector<uint64_t>* tables) {
  if (!(paging.cr0 & kCr0_PE) || !(paging.cr0 & kCr0_PG)) {
    // Real mode or protected mode without paging: linear is physical (with
    // A20 on: the loader and every test kernel run with it enabled).
    *gpa = (paging.efer & kEfer_LMA) ? gla : gla & 0xffffffffull;
    return Translation::kOk;
  }
  Walk walk(paging, ram, prot, tables);
  if (!(paging.cr4 & kCr4_PAE)) {
    return walk32(walk, paging.cr3, (paging.cr4 & kCr4_PSE) != 0, static_cast<uint32_t>(gla), gpa);
  }
  if (!(paging.efer & kEfer_LMA)) {
    const uint32_t la = static_cast<uint32_t>(gla);
    uint64_t pdpte;
    if (!walk.read((paging.cr3 & 0xffffffe0ull) + ((la >> 30) & 3) * 8, 8, &pdpte)) {
      return Translation::kError;
    }
    if (!(pdpte & kPte_P)) return Translation::kFault;
    // PAE PDPTEs carry no access rights.
    return walk64(walk, pdpte & kFrameMask, 2, la, gpa);
  }
  const int bits = (paging.cr4 & kCr4_LA57) ? 57 : 48;
  const uint64_t canonical =
      static_cast<uint64_t>(static_cast<int64_t>(gla << (64 - bits)) >> (64 - bits));
  if (canonical != gla) return Translation::kFault;
  return walk64(walk, paging.cr3 & kFrameMask, bits == 57 ? 5 : 4, gla, gpa);
}

}  // namespace kvm
}  // namespace vmm
