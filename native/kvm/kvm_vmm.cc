// KvmVmm: the seam over /dev/kvm. One VM, guest RAM as one memory slot at
// guest-physical 0, the in-kernel irqchip (PIC, IOAPIC, a local APIC per
// vCPU) and PIT, one vCPU fd with its mmap'd kvm_run per vCPU. Every quirk of
// PVM (kvm_pvm) that this file works around is listed in docs/kvm.md.
#include "kvm/kvm_vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kvm/kvm_internal.h"

// Constants newer than the oldest <linux/kvm.h> this builds against.
#ifndef KVM_CAP_SET_GUEST_DEBUG2
#define KVM_CAP_SET_GUEST_DEBUG2 195
#endif
#ifndef KVM_GUESTDBG_BLOCKIRQ
#define KVM_GUESTDBG_BLOCKIRQ 0x00100000
#endif

namespace vmm {

namespace {

using kvm::PagingState;

constexpr uint64_t kMaxRamBytes = 3ull << 30;   // below the PCI hole, as the loader allows
constexpr unsigned long kTssAddr = 0xfffbd000;  // 3 pages KVM needs on VMX without URG
constexpr uint64_t kIdentityMapAddr = 0xfeffc000;
constexpr uint64_t kRflagsIf = 1ull << 9;
constexpr uint64_t kDr6Hits = 0xf;
constexpr uint64_t kPageSize = 4096;

const char* errnoName(int err) {
  switch (err) {
    case ENOENT:
      return "ENOENT";
    case EACCES:
      return "EACCES";
    case EPERM:
      return "EPERM";
    case EBUSY:
      return "EBUSY";
    case EINVAL:
      return "EINVAL";
    case ENOMEM:
      return "ENOMEM";
    case EFAULT:
      return "EFAULT";
    case ENXIO:
      return "ENXIO";
    case ENODEV:
      return "ENODEV";
    default:
      return "EIO";
  }
}

[[noreturn]] void fail(const std::string& what, int vcpu = -1, int err = errno) {
  std::string message = what;
  if (vcpu >= 0) message += " (vCPU " + std::to_string(vcpu) + ")";
  message += ": ";
  message += std::strerror(err);
  throw VmmError{errnoName(err), message};
}

// An ioctl that a signal may interrupt before it does anything.
int xioctl(int fd, unsigned long request, void* arg) {
  int r;
  do {
    r = ioctl(fd, request, arg);
  } while (r < 0 && errno == EINTR);
  return r;
}

// kvm_run.immediate_exit is written from other threads (requestStop) while
// the vCPU thread reads and writes it: one byte, accessed atomically.
void setImmediateExit(kvm_run* run, bool on) {
  __atomic_store_n(&run->immediate_exit, on ? 1 : 0, __ATOMIC_SEQ_CST);
}

// The signal that kicks a vCPU thread out of KVM_RUN. Its handler does
// nothing: the point is the EINTR, and kvm_run.immediate_exit covers a signal
// that lands just before KVM_RUN.
int stopSignal() { return SIGRTMIN + 4; }

void ignoreSignal(int) {}

void installStopSignal() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action;
    std::memset(&action, 0, sizeof action);
    action.sa_handler = ignoreSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
    sigaction(stopSignal(), &action, nullptr);
  });
}

bool fileExists(const char* path) { return access(path, F_OK) == 0; }

// PVM: the kvm_pvm module serves /dev/kvm (no VMX/SVM underneath).
bool detectPvm() {
  if (fileExists("/sys/module/kvm_pvm")) return true;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.compare(0, 5, "flags") != 0) continue;
    return line.find(" vmx") == std::string::npos && line.find(" svm") == std::string::npos;
  }
  return false;
}

// kvm_cpuid2 and kvm_msrs end in a flexible array that newer <linux/kvm.h>
// declares through __DECLARE_FLEX_ARRAY, which in C++ adds an empty struct:
// the C++ layout then has the entries at offset 12 or 16 instead of 8, and
// the ioctl numbers (which encode sizeof) do not match the kernel's. So the
// headers and the ioctl numbers are spelled out here, as the kernel has them.
struct CpuidHeader {
  uint32_t nent;
  uint32_t padding;
};
struct MsrsHeader {
  uint32_t nmsrs;
  uint32_t pad;
};
static_assert(sizeof(kvm_cpuid_entry2) == 40 && sizeof(kvm_msr_entry) == 16,
              "the KVM entry structs have their kernel layout");
constexpr unsigned long kGetSupportedCpuid =
    _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, sizeof(CpuidHeader));
constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, sizeof(CpuidHeader));
constexpr unsigned long kGetMsrs = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, sizeof(MsrsHeader));
constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, sizeof(MsrsHeader));
// kvm_xsave is 4096 bytes to the kernel (its trailing flexible array adds 4 in C++).
constexpr size_t kXsaveSize = 4096;
constexpr unsigned long kGetXsave = _IOC(_IOC_READ, KVMIO, 0xa4, kXsaveSize);
constexpr unsigned long kSetXsave = _IOC(_IOC_WRITE, KVMIO, 0xa5, kXsaveSize);
constexpr unsigned long kGetXsave2 = _IOC(_IOC_READ, KVMIO, 0xcf, kXsaveSize);
constexpr int kCapXsave2 = 208;  // KVM_CAP_XSAVE2

// A CPUID table: the header, then `nent` entries.
class CpuidTable {
 public:
  explicit CpuidTable(uint32_t capacity)
      : bytes_(sizeof(CpuidHeader) + capacity * sizeof(kvm_cpuid_entry2)) {
    header()->nent = capacity;
  }
  CpuidHeader* header() { return reinterpret_cast<CpuidHeader*>(bytes_.data()); }
  kvm_cpuid_entry2* entry(uint32_t i) {
    return reinterpret_cast<kvm_cpuid_entry2*>(bytes_.data() + sizeof(CpuidHeader)) + i;
  }

 private:
  std::vector<uint8_t> bytes_;
};

// KVM_GET/SET_MSRS for the one MSR KVM keeps outside sregs.
struct MsrBuffer {
  MsrsHeader header{1, 0};
  kvm_msr_entry entry{};

  explicit MsrBuffer(uint32_t index, uint64_t data = 0) {
    entry.index = index;
    entry.data = data;
  }
};
static_assert(sizeof(MsrBuffer) == sizeof(MsrsHeader) + sizeof(kvm_msr_entry),
              "one MSR entry right after the header");

// Where a port I/O exit stands: KVM hands over `count` elements at once (more
// than one for INS/OUTS); the seam sees them one by one.
struct PendingIo {
  bool active = false;
  bool in = false;
  uint16_t port = 0;
  uint8_t size = 0;
  uint32_t count = 0;
  uint32_t index = 0;
  uint64_t data_offset = 0;
};

// One KVM memory slot of guest RAM: normally one covers all of it; data
// watchpoints done with memory slots split it around the watched pages.
struct MemSlot {
  uint64_t gpa = 0;
  uint64_t size = 0;
  uint32_t flags = 0;  // KVM_MEM_READONLY or 0
  bool operator==(const MemSlot& other) const {
    return gpa == other.gpa && size == other.size && flags == other.flags;
  }
};

// A watched access seen while completing MMIO: the slot and its kind.
struct WatchHit {
  int slot = -1;
  DebugSlot what;
};

std::string hex(uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

// A block of vCPU state (kvm_regs, kvm_sregs) as last read or written.
template <typename T>
struct CachedState {
  T value{};
  bool valid = false;
};

struct VcpuSlot {
  int fd = -1;
  kvm_run* run = nullptr;

  // Stop requests (any thread) and the thread to signal.
  std::atomic<bool> stop{false};
  std::atomic<bool> thread_known{false};
  pthread_t thread{};

  // An AP that has not received INIT/SIPI: KVM owns its state, and its
  // registers read as the reset state captured at creation.
  std::atomic<bool> waiting_for_sipi{false};
  bool sipi_reported = false;
  RegisterFile reset_state;

  // KVM_GET_REGS / KVM_GET_SREGS as last read or written, until the vCPU
  // next enters the guest; with KVM_CAP_SYNC_REGS, as KVM left them in
  // kvm_run at the exit. A single step otherwise reads the same registers
  // up to three times and the segments once more, an ioctl each (PVM's
  // rep-string splitting around the exit's own read), and every page of an
  // m or x read reads the segments for the page walk.
  CachedState<kvm_regs> regs;
  CachedState<kvm_sregs> sregs;

  // The debugger's hardware breakpoints (KVM_GUESTDBG_USE_HW_BP), which is
  // what RegisterFile's dr0-dr3/dr7 are on this backend, and DR6 of the last hit.
  uint64_t dr[4] = {};
  uint64_t dr6 = 0xffff0ff0, dr7 = 0x400;
  bool debug_dirty = true;
  // The debug slots behind dr/dr7 (setDebugSlots), to describe a hit;
  // debug_mutex guards dr, dr7, debug_dirty and slots against setDebugSlots
  // from another thread (an AP waiting for SIPI is inside run()).
  std::mutex debug_mutex;
  DebugSlots slots;
  uint32_t applied_control = 0;
  // Data slots done with memory slots (KvmVmm::usesMemslots): the
  // guest-physical address each one's linear address translated to when it
  // was set or at the last resume; not mapped: inactive until it is.
  uint64_t watch_gpa[kDebugSlotCount] = {};
  bool watch_mapped[kDebugSlotCount] = {};
  // Inside run() (setDebugSlots then leaves the translation to the next resume).
  std::atomic<bool> in_run{false};

  // Run-loop state, touched only by the vCPU's own thread.
  ResumeMode mode = ResumeMode::kContinue;
  PendingIo io;
  bool pending_exit = false;   // kvm_run holds an exit not handled yet
  bool step_finished = false;  // completing an I/O instruction ended a step
  bool pvm_resync_step = false;
};

class KvmVmm : public Vmm {
 public:
  KvmVmm() = default;
  KvmVmm(const KvmVmm&) = delete;
  KvmVmm& operator=(const KvmVmm&) = delete;

  void open(const VmConfig& config) {
    pvm_ = detectPvm();
    kvm_fd_ = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd_ < 0) {
      const int err = errno;
      std::string hint = err == ENOENT   ? " (no KVM on this host)"
                         : err == EACCES ? " (add yourself to the kvm group)"
                                         : "";
      throw VmmError{errnoName(err), std::string("/dev/kvm: ") + std::strerror(err) + hint};
    }
    if (ioctl(kvm_fd_, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
      throw VmmError{"ENODEV", "/dev/kvm speaks an unknown KVM API version"};
    }
    if (ioctl(kvm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0 ||
        ioctl(kvm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) <= 0) {
      throw VmmError{
          "ENODEV",
          "this kernel's KVM lacks KVM_CAP_IMMEDIATE_EXIT or KVM_CAP_XSAVE (Linux 4.11+)"};
    }
    int max_vcpus = ioctl(kvm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max_vcpus <= 0) max_vcpus = ioctl(kvm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    if (max_vcpus <= 0) max_vcpus = 4;  // what the API documents when neither is reported
    if (config.vcpus < 1 || config.vcpus > max_vcpus) {
      throw VmmError{"EINVAL", "KVM on this host runs 1 to " + std::to_string(max_vcpus) +
                                   " vCPUs, not " + std::to_string(config.vcpus)};
    }
    if (config.memory_bytes == 0 || config.memory_bytes > kMaxRamBytes ||
        config.memory_bytes % 4096 != 0) {
      throw VmmError{"EINVAL", "guest RAM must be a multiple of 4 KiB from 4 KiB to 3 GiB, not " +
                                   std::to_string(config.memory_bytes) + " bytes"};
    }
    const int debug2 = ioctl(kvm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_SET_GUEST_DEBUG2);
    blockirq_ = debug2 > 0 && (debug2 & KVM_GUESTDBG_BLOCKIRQ) != 0;

    do {
      vm_fd_ = ioctl(kvm_fd_, KVM_CREATE_VM, 0);
    } while (vm_fd_ < 0 && errno == EINTR);
    if (vm_fd_ < 0) fail("KVM_CREATE_VM");
    if (ioctl(vm_fd_, KVM_SET_TSS_ADDR, kTssAddr) < 0) fail("KVM_SET_TSS_ADDR");
    if (ioctl(kvm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) {
      uint64_t identity = kIdentityMapAddr;
      if (ioctl(vm_fd_, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0) {
        fail("KVM_SET_IDENTITY_MAP_ADDR");
      }
    }

    const int xsave2 = ioctl(vm_fd_, KVM_CHECK_EXTENSION, kCapXsave2);
    xsave_size_ = xsave2 > static_cast<int>(kXsaveSize) ? static_cast<size_t>(xsave2) : kXsaveSize;

    ram_size_ = config.memory_bytes;
    void* ram = mmap(nullptr, ram_size_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) fail("mmap of guest RAM");
    ram_ = static_cast<uint8_t*>(ram);
    readonly_mem_ = ioctl(vm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0;
    const int sync = ioctl(vm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
    sync_regs_ = sync > 0 && (sync & kSyncRegs) == kSyncRegs;
    const int memslots = ioctl(vm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
    if (memslots > 0) max_memslots_ = memslots;
    layout_ = {MemSlot{0, ram_size_, 0}};
    setMemSlot(0, layout_[0]);

    if (xioctl(vm_fd_, KVM_CREATE_IRQCHIP, nullptr) < 0) fail("KVM_CREATE_IRQCHIP");
    kvm_pit_config pit;
    std::memset(&pit, 0, sizeof pit);
    if (xioctl(vm_fd_, KVM_CREATE_PIT2, &pit) < 0) fail("KVM_CREATE_PIT2");

    const int run_size = ioctl(kvm_fd_, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < static_cast<int>(sizeof(kvm_run))) fail("KVM_GET_VCPU_MMAP_SIZE");
    run_size_ = static_cast<size_t>(run_size);
    CpuidTable cpuid = supportedCpuid();
    installStopSignal();
    for (int i = 0; i < config.vcpus; i++) createVcpu(i, cpuid);
  }

  ~KvmVmm() override {
    for (auto& slot : vcpus_) {
      if (slot->run != nullptr) munmap(slot->run, run_size_);
      if (slot->fd >= 0) close(slot->fd);
    }
    if (vm_fd_ >= 0) close(vm_fd_);
    if (ram_ != nullptr) munmap(ram_, ram_size_);
    if (kvm_fd_ >= 0) close(kvm_fd_);
  }

  std::string backendName() const override { return "kvm"; }
  int vcpuCount() const override { return static_cast<int>(vcpus_.size()); }
  std::vector<MemoryRegion> memoryRegions() const override {
    return {MemoryRegion{0, ram_size_, ram_}};
  }

  bool startsApsItself() const override { return true; }

  void getRegisters(int vcpu, RegisterFile* regs) override {
    VcpuSlot& s = slot(vcpu);
    if (s.waiting_for_sipi.load()) {
      *regs = s.reset_state;
      return;
    }
    readState(vcpu, regs);
    regs->dr[0] = s.dr[0], regs->dr[1] = s.dr[1], regs->dr[2] = s.dr[2], regs->dr[3] = s.dr[3];
    regs->dr6 = s.dr6;
    regs->dr7 = s.dr7;
  }

  void setRegisters(int vcpu, const RegisterFile& regs) override {
    VcpuSlot& s = slot(vcpu);
    if (s.waiting_for_sipi.load()) {
      throw VmmError{"EBUSY", "vCPU " + std::to_string(vcpu) +
                                  " is waiting for INIT/SIPI: its state is the local APIC's"};
    }
    kvm_sregs sregs = getSregs(vcpu);
    kvm::sregsToKvm(regs, &sregs);
    setSregs(vcpu, sregs);
    kvm_regs kregs;
    kvm::regsToKvm(regs, &kregs);
    setKregs(vcpu, kregs);
    std::vector<uint8_t> xsave = getXsave(vcpu);
    kvm::fpuToXsave(regs.fpu, xsave.data());
    if (xioctl(s.fd, kSetXsave, xsave.data()) < 0) fail("KVM_SET_XSAVE", vcpu);
    MsrBuffer msrs(kvm::kMsrKernelGsBase, regs.kernel_gs_base);
    if (xioctl(s.fd, kSetMsrs, &msrs) != 1) fail("KVM_SET_MSRS", vcpu, EINVAL);
    for (int i = 0; i < 4; i++) s.dr[i] = regs.dr[i];
    s.dr6 = regs.dr6;
    s.dr7 = regs.dr7;
    s.debug_dirty = true;  // also: a new RIP needs KVM_SET_GUEST_DEBUG again to single-step
    s.step_finished = false;
  }

  Translation gla2gpa(int vcpu, uint64_t gla, int prot, uint64_t* gpa) override {
    VcpuSlot& s = slot(vcpu);
    PagingState paging;
    if (s.waiting_for_sipi.load()) {
      paging = pagingOf(s.reset_state);
    } else {
      const kvm_sregs sregs = getSregs(vcpu);
      paging.cr0 = sregs.cr0, paging.cr3 = sregs.cr3, paging.cr4 = sregs.cr4;
      paging.efer = sregs.efer;
      paging.cpl = sregs.ss.dpl;
    }
    return kvm::walkPageTables(paging, memoryRegions()[0], gla, prot, gpa);
  }

  void setBreakpointExits(bool on) override { breakpoint_exits_ = on; }

  // Execute slots and write/access slots on hardware KVM are DR0-DR3
  // through KVM_GUESTDBG_USE_HW_BP. Read slots everywhere (DR7 has no
  // read-only kind) and every data slot on PVM (whose DR7 data breakpoints
  // never fire) are memory-slot protection of the watched page instead
  // (usesMemslots; docs/kvm.md).
  DebugCapabilities debugCapabilities() const override {
    unsigned kinds = 0;
    for (DebugSlotKind kind : {DebugSlotKind::kExec, DebugSlotKind::kWrite, DebugSlotKind::kRead,
                               DebugSlotKind::kAccess}) {
      kinds |= 1u << static_cast<int>(kind);
    }
    return DebugCapabilities{kDebugSlotCount, kinds};
  }

  void setDebugSlots(int vcpu, const DebugSlots& slots) override {
    VcpuSlot& s = slot(vcpu);
    // A vCPU outside run() (or waiting for SIPI) has its registers at hand:
    // translate and check now, so that a refusal reaches the caller.
    const bool translate_now = !s.in_run.load() || s.waiting_for_sipi.load();
    const bool check = !s.waiting_for_sipi.load();  // an AP's reset state says nothing yet
    RegisterFile regs;
    bool have_regs = false;
    uint64_t dr[4] = {}, dr7 = 0x400;
    uint64_t gpa[kDebugSlotCount] = {};
    bool mapped[kDebugSlotCount] = {};
    for (int i = 0; i < kDebugSlotCount; i++) {
      const DebugSlot& slot = slots[i];
      if (!slot.enabled) continue;
      if (usesMemslots(slot)) {
        if (!translate_now) continue;
        if (!have_regs) watchRegisters(vcpu, &regs);
        have_regs = true;
        mapped[i] = translateWatch(vcpu, regs, slot, check, &gpa[i]);
        continue;
      }
      // R/W: 00 execute, 01 write, 11 read or write. LEN: 00 1, 01 2, 11 4, 10 8 bytes.
      const uint64_t rw = slot.kind == DebugSlotKind::kExec    ? 0
                          : slot.kind == DebugSlotKind::kWrite ? 1
                                                               : 3;
      const uint64_t len = slot.kind == DebugSlotKind::kExec ? 0
                           : slot.length == 2                ? 1
                           : slot.length == 4                ? 3
                           : slot.length == 8                ? 2
                                                             : 0;
      dr[i] = slot.address;
      dr7 |= (2ull << (2 * i)) | (rw << (16 + 4 * i)) | (len << (18 + 4 * i));  // G bit
    }
    std::lock_guard<std::mutex> layout(layout_mutex_);
    {
      std::lock_guard<std::mutex> lock(s.debug_mutex);
      for (int i = 0; i < 4; i++) s.dr[i] = dr[i];
      s.dr7 = dr7;
      for (int i = 0; i < kDebugSlotCount; i++) {
        // Set while running: a slot that did not change keeps its
        // translation; a new one is translated at the next resume.
        if (!translate_now && sameSlot(slots[i], s.slots[i])) continue;
        s.watch_gpa[i] = gpa[i];
        s.watch_mapped[i] = mapped[i];
      }
      s.slots = slots;
      s.debug_dirty = true;
    }
    relayout();
  }

  // KVM_IRQ_LINE: the in-kernel 8259 pair and I/O APIC take the ISA line.
  void setIrqLine(int irq, bool level) override {
    kvm_irq_level line{};
    line.irq = static_cast<uint32_t>(irq);
    line.level = level ? 1 : 0;
    if (xioctl(vm_fd_, KVM_IRQ_LINE, &line) < 0) fail("KVM_IRQ_LINE");
  }

  // KVM_SET_VCPU_EVENTS: the exception is delivered through the guest IDT
  // at the next entry, at the current RIP.
  void injectException(int vcpu, int vector, bool has_error_code, uint32_t error_code) override {
    VcpuSlot& s = slot(vcpu);
    if (s.waiting_for_sipi.load()) {
      throw VmmError{"EBUSY", "vCPU " + std::to_string(vcpu) + " is waiting for INIT/SIPI"};
    }
    kvm_vcpu_events events;
    if (xioctl(s.fd, KVM_GET_VCPU_EVENTS, &events) < 0) fail("KVM_GET_VCPU_EVENTS", vcpu);
    events.flags = 0;  // leave NMI, SIPI, shadow and SMM state as they are
    events.exception.injected = 1;
    events.exception.nr = static_cast<uint8_t>(vector);
    events.exception.has_error_code = has_error_code ? 1 : 0;
    events.exception.error_code = error_code;
    if (xioctl(s.fd, KVM_SET_VCPU_EVENTS, &events) < 0) fail("KVM_SET_VCPU_EVENTS", vcpu);
  }

  // The in-kernel local APIC starts APs; vCPU 0 is runnable from creation.
  void activate(int vcpu) override {}

  // Not reached through the seam (startsApsItself), but meaningful: put an
  // AP into the state INIT/SIPI would leave it in and make it runnable.
  void startAp(int vcpu, uint64_t rip) override {
    VcpuSlot& s = slot(vcpu);
    RegisterFile regs = s.reset_state;
    regs.rip = 0;
    regs.seg[kCs] = Segment{rip & ~0xfffull, 0xffff, 0x9b, static_cast<uint16_t>(rip >> 4)};
    regs.rip = rip & 0xfff;
    s.waiting_for_sipi = false;
    setRegisters(vcpu, regs);
    kvm_mp_state mp{KVM_MP_STATE_RUNNABLE};
    if (xioctl(s.fd, KVM_SET_MP_STATE, &mp) < 0) fail("KVM_SET_MP_STATE", vcpu);
  }

  Exit run(int vcpu, const RunOptions& options) override {
    VcpuSlot& s = slot(vcpu);
    adoptThread(s);
    InRun in_run(s);
    if (s.waiting_for_sipi.load()) {
      if (!s.sipi_reported) return waitForSipi(vcpu);
      // The seam has seen kStartAp: from now on this is an ordinary vCPU.
      s.waiting_for_sipi = false;
    }
    s.mode = options.mode;
    if (s.io.active) return ioExit(s);
    bool have_exit = s.pending_exit;
    s.pending_exit = false;
    if (!have_exit && s.step_finished) {
      s.step_finished = false;
      if (options.mode == ResumeMode::kStep) return stopExit(vcpu, ExitKind::kStep);
    }
    refreshWatches(vcpu);
    RepStep rep;
    if (pvm_ && !have_exit && options.mode == ResumeMode::kStep && options.mask_interrupts &&
        blockirq_) {
      rep = prepareRepStep(vcpu);
    }
    applyGuestDebug(vcpu, options);
    Exit exit = runLoop(vcpu, options, have_exit);
    if (rep.active) finishRepStep(vcpu, rep, &exit);
    return exit;
  }

  void completePortIo(int vcpu, const Exit& exit, uint32_t in_value) override {
    VcpuSlot& s = slot(vcpu);
    if (!s.io.active) return;
    uint8_t* element = ioElement(s);
    if (s.io.in) std::memcpy(element, &in_value, s.io.size);  // little-endian, as the guest sees it
    if (++s.io.index < s.io.count) return;                    // run() reports the next element
    s.io.active = false;
    finishInKernel(vcpu);
  }

  void requestStop(int vcpu) override {
    VcpuSlot& s = slot(vcpu);
    s.stop = true;
    setImmediateExit(s.run, true);
    if (s.thread_known.load()) pthread_kill(s.thread, stopSignal());
  }

  void clearStop(int vcpu) override {
    VcpuSlot& s = slot(vcpu);
    s.stop = false;
    setImmediateExit(s.run, false);
  }

 private:
  VcpuSlot& slot(int vcpu) { return *vcpus_.at(static_cast<size_t>(vcpu)); }

  CpuidTable supportedCpuid() {
    for (uint32_t entries = 64; entries <= 4096; entries *= 2) {
      CpuidTable table(entries);
      if (ioctl(kvm_fd_, kGetSupportedCpuid, table.header()) == 0) return table;
      if (errno != E2BIG) fail("KVM_GET_SUPPORTED_CPUID");
    }
    fail("KVM_GET_SUPPORTED_CPUID", -1, E2BIG);
  }

  void createVcpu(int index, const CpuidTable& supported) {
    auto owned = std::make_unique<VcpuSlot>();
    VcpuSlot& s = *owned;
    vcpus_.push_back(std::move(owned));
    s.fd = xioctl(vm_fd_, KVM_CREATE_VCPU, reinterpret_cast<void*>(static_cast<intptr_t>(index)));
    if (s.fd < 0) fail("KVM_CREATE_VCPU", index);
    void* run = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, 0);
    if (run == MAP_FAILED) fail("mmap of kvm_run", index);
    s.run = static_cast<kvm_run*>(run);
    if (sync_regs_) s.run->kvm_valid_regs = kSyncRegs;

    // The APIC id each vCPU reports through CPUID is its index, as its
    // in-kernel local APIC's is.
    CpuidTable cpuid = supported;
    for (uint32_t e = 0; e < cpuid.header()->nent; e++) {
      kvm_cpuid_entry2& entry = *cpuid.entry(e);
      if (entry.function == 1) {
        entry.ebx = (entry.ebx & 0x00ffffffu) | static_cast<uint32_t>(index) << 24;
      } else if (entry.function == 0xb || entry.function == 0x1f) {
        entry.edx = static_cast<uint32_t>(index);
      }
    }
    if (xioctl(s.fd, kSetCpuid2, cpuid.header()) < 0) fail("KVM_SET_CPUID2", index);

    readState(index, &s.reset_state);
    s.waiting_for_sipi = index != 0;
  }

  // The architectural state as KVM holds it (debug registers: the guest's).
  void readState(int vcpu, RegisterFile* regs) {
    VcpuSlot& s = slot(vcpu);
    readCoreState(vcpu, regs);
    kvm::fpuFromXsave(getXsave(vcpu).data(), &regs->fpu);
    MsrBuffer msrs(kvm::kMsrKernelGsBase);
    if (xioctl(s.fd, kGetMsrs, &msrs) != 1) fail("KVM_GET_MSRS", vcpu, EINVAL);
    regs->kernel_gs_base = msrs.entry.data;
    kvm_debugregs debug;
    if (xioctl(s.fd, KVM_GET_DEBUGREGS, &debug) < 0) fail("KVM_GET_DEBUGREGS", vcpu);
    for (int i = 0; i < 4; i++) regs->dr[i] = debug.db[i];
    regs->dr6 = debug.dr6;
    regs->dr7 = debug.dr7;
  }

  // The vCPU's XSAVE image (standard format), as large as KVM's for this VM.
  std::vector<uint8_t> getXsave(int vcpu) {
    std::vector<uint8_t> xsave(xsave_size_);
    const unsigned long request = xsave_size_ > kXsaveSize ? kGetXsave2 : kGetXsave;
    if (xioctl(slot(vcpu).fd, request, xsave.data()) < 0) fail("KVM_GET_XSAVE", vcpu);
    return xsave;
  }

  // KVM_GET_REGS / KVM_GET_SREGS through the slot's copy (VcpuSlot::regs).
  template <typename T>
  T readCached(int vcpu, CachedState<T>& state, unsigned long request, const char* name) {
    if (!state.valid) {
      if (xioctl(slot(vcpu).fd, request, &state.value) < 0) fail(name, vcpu);
      state.valid = true;
    }
    return state.value;
  }

  // KVM_SET_REGS / KVM_SET_SREGS, keeping the slot's copy.
  template <typename T>
  void writeCached(int vcpu, CachedState<T>& state, T value, unsigned long request,
                   const char* name) {
    state.valid = false;
    if (xioctl(slot(vcpu).fd, request, &value) < 0) fail(name, vcpu);
    state.value = value;
    state.valid = true;
  }

  kvm_regs getKregs(int vcpu) {
    return readCached(vcpu, slot(vcpu).regs, KVM_GET_REGS, "KVM_GET_REGS");
  }
  void setKregs(int vcpu, const kvm_regs& kregs) {
    writeCached(vcpu, slot(vcpu).regs, kregs, KVM_SET_REGS, "KVM_SET_REGS");
  }
  kvm_sregs getSregs(int vcpu) {
    return readCached(vcpu, slot(vcpu).sregs, KVM_GET_SREGS, "KVM_GET_SREGS");
  }
  void setSregs(int vcpu, const kvm_sregs& sregs) {
    writeCached(vcpu, slot(vcpu).sregs, sregs, KVM_SET_SREGS, "KVM_SET_SREGS");
  }

  uint64_t currentRip(int vcpu) { return getKregs(vcpu).rip; }

  static PagingState pagingOf(const RegisterFile& regs) {
    PagingState paging;
    paging.cr0 = regs.cr0, paging.cr3 = regs.cr3, paging.cr4 = regs.cr4, paging.efer = regs.efer;
    paging.cpl = (regs.seg[kSs].access >> 5) & 3;
    return paging;
  }

  // Reads up to `len` bytes of guest memory at the vCPU's current
  // instruction (CS base + RIP); stops at the first byte that is not mapped
  // or not in RAM. Returns how many it read.
  size_t readAtRip(int vcpu, const RegisterFile& regs, uint8_t* out, size_t len) {
    const uint64_t linear = regs.seg[kCs].base + regs.rip;
    for (size_t i = 0; i < len; i++) {
      uint64_t gpa;
      if (kvm::walkPageTables(pagingOf(regs), memoryRegions()[0], linear + i, kProtRead, &gpa) !=
              Translation::kOk ||
          gpa >= ram_size_) {
        return i;
      }
      out[i] = ram_[gpa];
    }
    return len;
  }

  void adoptThread(VcpuSlot& s) {
    if (s.thread_known.load()) return;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, stopSignal());
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    s.thread = pthread_self();
    s.thread_known = true;
  }

  // KVM_SET_GUEST_DEBUG from the settings this run needs; skipped when
  // nothing changed, except when stepping: KVM arms a single step for the RIP
  // it sees at this call, so a step always sets it again.
  void applyGuestDebug(int vcpu, const RunOptions& options) {
    VcpuSlot& s = slot(vcpu);
    std::lock_guard<std::mutex> lock(s.debug_mutex);
    uint32_t control = 0;
    if (options.mode == ResumeMode::kStep) {
      control |= KVM_GUESTDBG_SINGLESTEP;
      if (options.mask_interrupts && blockirq_) control |= KVM_GUESTDBG_BLOCKIRQ;
    }
    if (breakpoint_exits_.load()) control |= KVM_GUESTDBG_USE_SW_BP;
    const bool hardware = (s.dr7 & 0xff) != 0;
    if (hardware) control |= KVM_GUESTDBG_USE_HW_BP;
    if (control != 0) control |= KVM_GUESTDBG_ENABLE;
    if (!s.debug_dirty && control == s.applied_control && !(control & KVM_GUESTDBG_SINGLESTEP)) {
      return;
    }
    kvm_guest_debug debug;
    std::memset(&debug, 0, sizeof debug);
    debug.control = control;
    if (hardware) {
      for (int i = 0; i < 4; i++) debug.arch.debugreg[i] = s.dr[i];
      debug.arch.debugreg[7] = s.dr7;
    }
    if (xioctl(s.fd, KVM_SET_GUEST_DEBUG, &debug) < 0) fail("KVM_SET_GUEST_DEBUG", vcpu);
    s.applied_control = control;
    s.debug_dirty = false;
  }

  // Lets KVM finish an exit's instruction (the IN's register write, the
  // instruction pointer) without running the guest: KVM_RUN with
  // immediate_exit completes the pending operation, then returns EINTR. When
  // completing it produces an exit of its own (a single step's trap, the next
  // chunk of a string I/O), the next run() handles that first.
  void finishInKernel(int vcpu) {
    VcpuSlot& s = slot(vcpu);
    const int r = enterGuest(s, true);
    const int err = errno;
    setImmediateExit(s.run, false);
    if (s.stop.load()) setImmediateExit(s.run, true);  // a stop requested meanwhile stays
    if (r == 0) {
      s.pending_exit = true;
    } else if (err == EINTR) {
      if (s.mode == ResumeMode::kStep) s.step_finished = true;
    } else {
      fail("KVM_RUN completing I/O", vcpu, err);
    }
  }

  uint8_t* ioElement(VcpuSlot& s) {
    return reinterpret_cast<uint8_t*>(s.run) + s.io.data_offset +
           static_cast<size_t>(s.io.index) * s.io.size;
  }

  Exit ioExit(VcpuSlot& s) {
    Exit exit;
    exit.kind = s.io.in ? ExitKind::kPortIn : ExitKind::kPortOut;
    exit.port = s.io.port;
    exit.size = s.io.size;
    // Length unknown here: KVM advances RIP itself when the I/O completes,
    // so the seam asks run() again, which reports the finished step.
    exit.inst_length = 0;
    if (!s.io.in) {
      uint32_t value = 0;
      std::memcpy(&value, ioElement(s), s.io.size);
      exit.value = value;
    }
    return exit;
  }

  Exit stopExit(int vcpu, ExitKind kind) {
    Exit exit;
    exit.kind = kind;
    exit.rip = currentRip(vcpu);
    return exit;
  }

  Exit errorExit(int vcpu, const std::string& what, ExitKind kind = ExitKind::kError) {
    Exit exit;
    exit.kind = kind;
    std::string state;
    try {
      RegisterFile regs;
      readState(vcpu, &regs);
      exit.rip = regs.rip;
      state = kvm::describeRegisters(regs);
    } catch (const VmmError& error) {
      state = "registers unreadable: " + error.message;
    }
    exit.message = what + " on vCPU " + std::to_string(vcpu) + ": " + state;
    return exit;
  }

  Exit runLoop(int vcpu, const RunOptions& options, bool have_exit) {
    VcpuSlot& s = slot(vcpu);
    for (;;) {
      if (!have_exit) {
        if (s.stop.load()) return stopExit(vcpu, ExitKind::kPaused);
        if (enterGuest(s, false) < 0) {
          const int err = errno;
          if (err == EINTR || err == EAGAIN) continue;  // the loop looks at stop
          return errorExit(vcpu, std::string("KVM_RUN: ") + std::strerror(err));
        }
      }
      have_exit = false;
      Exit exit;
      if (handleExit(vcpu, options, &exit)) return exit;
    }
  }

  // PVM's emulator runs every iteration of a REP string instruction in one
  // single step. There, a step over one runs it with the counter at 1, then
  // puts the architectural result of one iteration in place: counter n - 1,
  // and RIP back on the instruction unless it is done. Only while interrupts
  // are blocked (BLOCKIRQ), so no interrupt handler sees the counter of 1.
  struct RepStep {
    bool active = false;
    uint64_t start_rip = 0;
    uint64_t count = 0;
    kvm::RepString insn;
  };

  static uint64_t counterMask(int bits) { return bits == 64 ? ~0ull : (1ull << bits) - 1; }

  RepStep prepareRepStep(int vcpu) {
    RepStep rep;
    RegisterFile regs;
    kvm_regs kregs = getKregs(vcpu);
    const kvm_sregs sregs = getSregs(vcpu);
    kvm::regsFromKvm(kregs, &regs);
    kvm::sregsFromKvm(sregs, &regs);
    uint8_t bytes[15];
    const size_t len = readAtRip(vcpu, regs, bytes, sizeof bytes);
    const bool code64 = (sregs.efer & (1ull << 10)) != 0 && sregs.cs.l;
    rep.insn = kvm::decodeRepString(bytes, len, code64, sregs.cs.db != 0);
    if (!rep.insn.found) return rep;
    const uint64_t mask = counterMask(rep.insn.counter_bits);
    rep.count = kregs.rcx & mask;
    if (rep.count <= 1) return rep;  // nothing to split
    kregs.rcx = (kregs.rcx & ~mask) | 1;
    setKregs(vcpu, kregs);
    rep.active = true;
    rep.start_rip = kregs.rip;
    return rep;
  }

  void finishRepStep(int vcpu, const RepStep& rep, Exit* exit) {
    kvm_regs kregs = getKregs(vcpu);
    const uint64_t mask = counterMask(rep.insn.counter_bits);
    const uint64_t counter = kregs.rcx & mask;
    const uint64_t end = rep.start_rip + rep.insn.length;
    if (exit->kind == ExitKind::kStep && counter == 0 &&
        (kregs.rip == rep.start_rip || kregs.rip == end)) {
      const uint64_t left = rep.count - 1;
      const bool zf = (kregs.rflags & (1ull << 6)) != 0;
      const bool done = left == 0 || (rep.insn.stops_on_zf && (rep.insn.repne ? zf : !zf));
      kregs.rcx = (kregs.rcx & ~mask) | left;
      kregs.rip = done ? end : rep.start_rip;
      exit->rip = kregs.rip;
    } else {
      // Stopped before the iteration or somewhere else: give back what the
      // counter of 1 hid.
      kregs.rcx = (kregs.rcx & ~mask) | ((counter + rep.count - 1) & mask);
    }
    setKregs(vcpu, kregs);
    VcpuSlot& s = slot(vcpu);
    std::lock_guard<std::mutex> lock(s.debug_mutex);
    s.debug_dirty = true;
  }

  // Decides what one KVM exit means; false to run the guest again.
  bool handleExit(int vcpu, const RunOptions& options, Exit* out) {
    VcpuSlot& s = slot(vcpu);
    kvm_run* run = s.run;
    switch (run->exit_reason) {
      case KVM_EXIT_IO:
        s.io.active = true;
        s.io.in = run->io.direction == KVM_EXIT_IO_IN;
        s.io.port = run->io.port;
        s.io.size = run->io.size;
        s.io.count = run->io.count;
        s.io.index = 0;
        s.io.data_offset = run->io.data_offset;
        if (s.io.count == 0) {
          s.io.active = false;
          finishInKernel(vcpu);
          return false;
        }
        *out = ioExit(s);
        return true;
      case KVM_EXIT_MMIO: {
        WatchHit hit;
        for (;;) {
          emulateMmio(vcpu, &hit);
          finishInKernel(vcpu);  // the rest of the instruction's MMIO comes as more exits
          if (!s.pending_exit || run->exit_reason != KVM_EXIT_MMIO) break;
          s.pending_exit = false;
        }
        if (hit.slot >= 0) {
          // After the access, RIP past the instruction. In step mode the
          // watchpoint is the stop (as a DR6 with both BS and Bn is to gdb):
          // the step's own trap from finishing the instruction is dropped.
          s.step_finished = false;
          if (s.pending_exit && isStepTrap(run)) s.pending_exit = false;
          *out = stopExit(vcpu, ExitKind::kWatchpoint);
          out->debug_slot = hit.slot;
          out->data_address = hit.what.address;
          out->data_access = hit.what.kind;
          return true;
        }
        if (s.step_finished && options.mode == ResumeMode::kStep) {
          s.step_finished = false;
          *out = stopExit(vcpu, ExitKind::kStep);
          return true;
        }
        s.step_finished = false;
        if (s.pending_exit) {
          s.pending_exit = false;
          return handleExit(vcpu, options, out);
        }
        return false;
      }
      case KVM_EXIT_DEBUG:
        return debugExit(vcpu, options, out);
      case KVM_EXIT_HLT:
        *out = stopExit(vcpu, ExitKind::kHalt);
        return true;
      case KVM_EXIT_SHUTDOWN:
        *out = errorExit(vcpu, "triple fault", ExitKind::kShutdown);
        out->end = MachineEnd::kTripleFault;
        return true;
      case KVM_EXIT_SYSTEM_EVENT: {
        bool reset = run->system_event.type == KVM_SYSTEM_EVENT_RESET;
        bool off = run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN;
        *out = errorExit(vcpu,
                         reset ? "the guest reset the machine"
                         : off ? "the guest powered off"
                               : "the guest reported a crash",
                         ExitKind::kShutdown);
        out->end = reset ? MachineEnd::kReset : off ? MachineEnd::kPowerOff : MachineEnd::kUnknown;
        return true;
      }
      case KVM_EXIT_INTERNAL_ERROR:
        return internalError(vcpu, out);
      case KVM_EXIT_FAIL_ENTRY: {
        char what[96];
        std::snprintf(
            what, sizeof what, "VM entry failed (hardware reason 0x%llx)",
            static_cast<unsigned long long>(run->fail_entry.hardware_entry_failure_reason));
        *out = errorExit(vcpu, what);
        return true;
      }
      case KVM_EXIT_INTR:
      case KVM_EXIT_IRQ_WINDOW_OPEN:
        return false;
      default:
        *out = errorExit(vcpu, "unhandled KVM exit reason " + std::to_string(run->exit_reason));
        return true;
    }
  }

  bool debugExit(int vcpu, const RunOptions& options, Exit* out) {
    VcpuSlot& s = slot(vcpu);
    const kvm_debug_exit_arch& debug = s.run->debug.arch;
    if (debug.exception == 3) {
      // KVM intercepts #BP before the int3 retires: RIP is the int3.
      *out = stopExit(vcpu, ExitKind::kBreakpoint);
      return true;
    }
    if (debug.exception == 1) {
      if (debug.dr6 & kDr6Hits) {
        int hit = 0;
        while (!(debug.dr6 & (1ull << hit))) hit++;
        DebugSlot slot;
        {
          std::lock_guard<std::mutex> lock(s.debug_mutex);
          s.dr6 = debug.dr6;
          slot = s.slots[hit];
        }
        // A data breakpoint is a trap: RIP is already past the instruction.
        const bool data = slot.enabled && slot.kind != DebugSlotKind::kExec;
        *out = stopExit(vcpu, data ? ExitKind::kWatchpoint : ExitKind::kDebugRegister);
        out->debug_slot = slot.enabled ? hit : -1;
        if (data) {
          out->data_address = slot.address;
          out->data_access = slot.kind;
        }
        return true;
      }
      if (options.mode == ResumeMode::kStep) {
        *out = stopExit(vcpu, ExitKind::kStep);
        return true;
      }
      return false;  // a step trap left over from an earlier step: not this run's business
    }
    *out = errorExit(vcpu, "debug exit for exception " + std::to_string(debug.exception));
    return true;
  }

  bool internalError(int vcpu, Exit* out) {
    VcpuSlot& s = slot(vcpu);
    const uint32_t suberror = s.run->internal.suberror;
    RegisterFile regs;
    uint8_t bytes[8] = {};
    bool have_bytes = false, have_regs = false;
    try {
      readState(vcpu, &regs);
      have_regs = true;
      have_bytes = readAtRip(vcpu, regs, bytes, sizeof bytes) == sizeof bytes;
    } catch (const VmmError&) {
    }
    // PVM executes guest kernel code by emulation, and its emulator fails on
    // int3 at CPL0 instead of raising #BP: with breakpoint exits on, an
    // emulation failure on a 0xCC is the breakpoint it would have been.
    if (suberror == KVM_INTERNAL_ERROR_EMULATION && have_bytes && bytes[0] == kInt3 &&
        breakpoint_exits_.load()) {
      out->kind = ExitKind::kBreakpoint;
      out->rip = regs.rip;
      return true;
    }
    std::string what = "KVM internal error " + std::to_string(suberror);
    if (suberror == KVM_INTERNAL_ERROR_EMULATION) what += " (instruction emulation failed)";
    if (have_bytes) {
      char hex[40];
      std::snprintf(hex, sizeof hex, " at bytes %02x %02x %02x %02x", bytes[0], bytes[1], bytes[2],
                    bytes[3]);
      what += hex;
      if (bytes[0] == kInt3 && pvm_) what += " (PVM cannot run int3 in guest kernel mode)";
    }
    uint64_t code_gpa;
    if (suberror == KVM_INTERNAL_ERROR_EMULATION && have_regs &&
        kvm::walkPageTables(pagingOf(regs), memoryRegions()[0], regs.seg[kCs].base + regs.rip,
                            kProtRead, &code_gpa) == Translation::kOk &&
        isHiddenPage(code_gpa)) {
      what += " (the code is on guest-physical page " + hex(code_gpa & ~(kPageSize - 1)) +
              ", which a read or access watchpoint took out of KVM's memory slots: KVM cannot "
              "fetch instructions from it; remove that watchpoint)";
    }
    *out = errorExit(vcpu, what);
    return true;
  }

  // An AP before INIT/SIPI. KVM_RUN on it blocks inside the kernel until the
  // local APIC accepts INIT (then returns EAGAIN) or a signal arrives; in
  // INIT-received state KVM_RUN would run the guest as soon as SIPI lands, so
  // the state is polled there (the APIC accepts the SIPI when asked for the
  // state). Returns kStartAp for this vCPU once it is runnable, before it
  // executed anything.
  //
  // The poll is every 200 us for the first 20 ms after INIT (the MP start-up
  // sequence sends its SIPIs 10 ms after INIT), then every 2 ms up to 200 ms,
  // then every 20 ms: dozens of APs that never get their SIPI (PVM starts
  // only some of 64) would otherwise wake 5,000 times a second each and take
  // the CPU from the vCPUs that run and from the debugger's own thread (46
  // such APs at 2 ms were 23,000 wake-ups a second). A stop request's signal
  // cuts a poll's sleep short.
  Exit waitForSipi(int vcpu) {
    VcpuSlot& s = slot(vcpu);
    int polls_after_init = 0;
    for (;;) {
      if (s.stop.load()) {
        Exit exit;
        exit.kind = ExitKind::kPaused;
        exit.rip = s.reset_state.rip;
        return exit;
      }
      kvm_mp_state mp;
      if (xioctl(s.fd, KVM_GET_MP_STATE, &mp) < 0) fail("KVM_GET_MP_STATE", vcpu);
      if (mp.mp_state == KVM_MP_STATE_UNINITIALIZED) {
        s.regs.valid = s.sregs.valid = false;  // INIT resets them inside KVM_RUN
        if (ioctl(s.fd, KVM_RUN, 0) < 0 && errno != EINTR && errno != EAGAIN) {
          fail("KVM_RUN waiting for INIT", vcpu);
        }
        continue;
      }
      if (mp.mp_state == KVM_MP_STATE_INIT_RECEIVED) {
        // 100 polls of 200 us (20 ms), 90 of 2 ms (to 200 ms), then 20 ms.
        const int poll = polls_after_init++;
        const long us = poll < 100 ? 200 : poll < 190 ? 2000 : 20000;
        const timespec pause{0, us * 1000};
        nanosleep(&pause, nullptr);
        continue;
      }
      RegisterFile regs;
      readState(vcpu, &regs);
      s.sipi_reported = true;
      Exit exit;
      exit.kind = ExitKind::kStartAp;
      exit.target_vcpu = vcpu;
      exit.start_rip = regs.seg[kCs].base + regs.rip;
      exit.rip = exit.start_rip;
      return exit;
    }
  }

  // ---- Data watchpoints with memory slots (docs/kvm.md, "Memory-slot watchpoints").

  // Marks a vCPU as inside run() for setDebugSlots.
  struct InRun {
    explicit InRun(VcpuSlot& vcpu) : s(vcpu) { s.in_run = true; }
    ~InRun() { s.in_run = false; }
    InRun(const InRun&) = delete;
    InRun& operator=(const InRun&) = delete;
    VcpuSlot& s;
  };

  // Data slots done by memory-slot protection instead of DR0-DR3: every one
  // on PVM (DR7 data breakpoints never fire there), read slots everywhere
  // (DR7 has no read-only kind; the memory slots make them exact).
  bool usesMemslots(const DebugSlot& watch) const {
    return watch.enabled && watch.kind != DebugSlotKind::kExec &&
           (pvm_ || watch.kind == DebugSlotKind::kRead);
  }

  // Whether a watch takes its page out of the memory slots (every access
  // exits) rather than making it read-only (only writes exit).
  bool hidesPage(DebugSlotKind kind) const {
    return kind != DebugSlotKind::kWrite || !readonly_mem_;
  }

  // What translating a watch needs: GPRs, segments, control registers.
  void watchRegisters(int vcpu, RegisterFile* regs) {
    VcpuSlot& s = slot(vcpu);
    if (s.waiting_for_sipi.load()) {
      *regs = s.reset_state;
      return;
    }
    readCoreState(vcpu, regs);
  }

  // GPRs, rip, rflags, segments, descriptor tables and control registers:
  // at most two ioctls (none right after an exit with sync regs), without
  // the FPU and MSRs.
  void readCoreState(int vcpu, RegisterFile* regs) {
    kvm::regsFromKvm(getKregs(vcpu), regs);
    kvm::sregsFromKvm(getSregs(vcpu), regs);
  }

  // The guest-physical address of a watched linear address through the
  // vCPU's page tables; false when it is not mapped to guest RAM now. With
  // `check`, refuses (throws) what the scheme cannot watch: an address not
  // mapped, and a page the CPU writes outside the instructions KVM emulates
  // (the page tables on the way to it or to RIP: accessed and dirty bits;
  // the GDT: accessed and busy bits; the stack RSP is on: interrupt frames)
  // or, for a page every access exits on, reads so (the IDT, the
  // instruction at RIP).
  bool translateWatch(int vcpu, const RegisterFile& regs, const DebugSlot& watch, bool check,
                      uint64_t* gpa) {
    const PagingState paging = pagingOf(regs);
    const MemoryRegion ram = memoryRegions()[0];
    std::vector<uint64_t> tables;
    const bool ok = kvm::walkPageTables(paging, ram, watch.address, kProtRead, gpa, &tables) ==
                        Translation::kOk &&
                    *gpa < ram_size_ && ram_size_ - *gpa >= watch.length;
    if (!check) return ok;
    const std::string what = "a " + std::string(kindName(watch.kind)) + " watchpoint at " +
                             hex(watch.address) + " (vCPU " + std::to_string(vcpu) + ")";
    if (!ok) throw VmmError{"EFAULT", what + ": the address is not mapped to guest RAM"};
    const uint64_t page = *gpa & ~(kPageSize - 1);
    auto on = [&](uint64_t linear) {
      uint64_t other;
      return kvm::walkPageTables(paging, ram, linear, kProtRead, &other, &tables) ==
                 Translation::kOk &&
             (other & ~(kPageSize - 1)) == page;
    };
    std::string holds;
    if (hidesPage(watch.kind) && on(regs.seg[kCs].base + regs.rip)) {
      holds =
          "the code the vCPU runs (KVM cannot fetch instructions from a page every access "
          "exits on; a write watchpoint there works)";
    } else if (on(regs.gpr[kRsp])) {
      holds =
          "the vCPU's stack (interrupt and exception frames are not instructions KVM hands "
          "to user space)";
    } else if (on(regs.gdtr.base) || on(regs.gdtr.base + regs.gdtr.limit)) {
      holds = "the GDT";
    } else if (hidesPage(watch.kind) &&
               (on(regs.idtr.base) || on(regs.idtr.base + regs.idtr.limit))) {
      holds = "the IDT (the CPU reads it on every interrupt; a write watchpoint there works)";
    } else {
      for (uint64_t table : tables) {
        if (table == page) holds = "page tables";
      }
    }
    if (!holds.empty()) {
      throw VmmError{"EINVAL", what + ": guest-physical page " + hex(page) + " holds " + holds +
                                   ", which this backend's memory-slot watchpoints cannot watch"};
    }
    return true;
  }

  static const char* kindName(DebugSlotKind kind) {
    switch (kind) {
      case DebugSlotKind::kExec:
        return "execute";
      case DebugSlotKind::kWrite:
        return "write";
      case DebugSlotKind::kRead:
        return "read";
      case DebugSlotKind::kAccess:
        return "access";
    }
    return "data";
  }

  static bool sameSlot(const DebugSlot& a, const DebugSlot& b) {
    return a.enabled == b.enabled && a.address == b.address && a.kind == b.kind &&
           a.length == b.length;
  }

  static bool sameSlots(const DebugSlots& a, const DebugSlots& b) {
    for (int i = 0; i < kDebugSlotCount; i++) {
      if (!sameSlot(a[i], b[i])) return false;
    }
    return true;
  }

  // At each resume: translate this vCPU's memory-slot watches again (the
  // guest may have changed its page tables since) and lay the memory slots
  // out anew when a watched page moved. No check here: a watch whose
  // address is not mapped now is inactive until it is.
  void refreshWatches(int vcpu) {
    VcpuSlot& s = slot(vcpu);
    DebugSlots slots;
    {
      std::lock_guard<std::mutex> lock(s.debug_mutex);
      slots = s.slots;
    }
    bool any = false;
    for (const DebugSlot& watch : slots) any = any || usesMemslots(watch);
    if (!any) return;
    RegisterFile regs;
    watchRegisters(vcpu, &regs);
    uint64_t gpa[kDebugSlotCount] = {};
    bool mapped[kDebugSlotCount] = {};
    for (int i = 0; i < kDebugSlotCount; i++) {
      if (usesMemslots(slots[i])) mapped[i] = translateWatch(vcpu, regs, slots[i], false, &gpa[i]);
    }
    std::lock_guard<std::mutex> layout(layout_mutex_);
    bool changed = false;
    {
      std::lock_guard<std::mutex> lock(s.debug_mutex);
      if (!sameSlots(slots, s.slots)) return;  // set again meanwhile, and translated then
      for (int i = 0; i < kDebugSlotCount; i++) {
        if (mapped[i] != s.watch_mapped[i] || gpa[i] != s.watch_gpa[i]) changed = true;
        s.watch_gpa[i] = gpa[i];
        s.watch_mapped[i] = mapped[i];
      }
    }
    if (changed) relayout();
  }

  // Lays guest RAM's memory slots out for the watched pages of every vCPU:
  // a page only write-watched is a read-only slot (KVM_MEM_READONLY: writes
  // exit as KVM_EXIT_MMIO, reads run at full speed), a page read- or
  // access-watched is in no slot (every access exits as KVM_EXIT_MMIO), the
  // rest of RAM is ordinary slots; no watch: one slot, as at creation. KVM
  // cannot resize a slot, so a change deletes them all and creates the new
  // ones, with every vCPU held outside KVM_RUN meanwhile (closeGate): no vCPU
  // runs while part of RAM is missing. The caller holds layout_mutex_.
  void relayout() {
    std::map<uint64_t, bool> pages;  // page -> hidden
    for (auto& owned : vcpus_) {
      VcpuSlot& v = *owned;
      std::lock_guard<std::mutex> lock(v.debug_mutex);
      for (int i = 0; i < kDebugSlotCount; i++) {
        const DebugSlot& watch = v.slots[i];
        if (!usesMemslots(watch) || !v.watch_mapped[i]) continue;
        const uint64_t page = v.watch_gpa[i] & ~(kPageSize - 1);
        pages[page] = pages[page] || hidesPage(watch.kind);
      }
    }
    std::vector<MemSlot> want;
    uint64_t cursor = 0;
    for (const auto& [page, hidden] : pages) {
      if (page >= ram_size_) continue;
      if (page > cursor) want.push_back(MemSlot{cursor, page - cursor, 0});
      if (!hidden) want.push_back(MemSlot{page, kPageSize, KVM_MEM_READONLY});
      cursor = page + kPageSize;
    }
    if (cursor < ram_size_) want.push_back(MemSlot{cursor, ram_size_ - cursor, 0});
    if (want == layout_) return;
    if (want.size() > static_cast<size_t>(max_memslots_)) {
      throw VmmError{"ENOSPC", "watching " + std::to_string(pages.size()) +
                                   " pages needs more memory slots than this host's KVM has (" +
                                   std::to_string(max_memslots_) + ")"};
    }
    closeGate();
    try {
      applyLayout(want);
    } catch (const VmmError&) {
      try {
        applyLayout({MemSlot{0, ram_size_, 0}});  // RAM whole again, watches or not
      } catch (const VmmError&) {
      }
      openGate();
      throw;
    }
    openGate();
  }

  void applyLayout(const std::vector<MemSlot>& want) {
    for (size_t i = layout_.size(); i-- > 0;) {
      setMemSlot(i, MemSlot{layout_[i].gpa, 0, 0});  // size 0 deletes
      layout_.pop_back();
    }
    for (size_t i = 0; i < want.size(); i++) {
      setMemSlot(i, want[i]);
      layout_.push_back(want[i]);
    }
  }

  void setMemSlot(size_t id, const MemSlot& mem) {
    kvm_userspace_memory_region region;
    std::memset(&region, 0, sizeof region);
    region.slot = static_cast<uint32_t>(id);
    region.flags = mem.flags;
    region.guest_phys_addr = mem.gpa;
    region.memory_size = mem.size;
    region.userspace_addr = reinterpret_cast<uint64_t>(ram_ + mem.gpa);
    if (xioctl(vm_fd_, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
      fail("KVM_SET_USER_MEMORY_REGION (slot " + std::to_string(id) + " at " + hex(mem.gpa) + ")");
    }
  }

  // Guest RAM at `gpa` that no memory slot covers now (a hidden page).
  bool isHiddenPage(uint64_t gpa) {
    if (gpa >= ram_size_) return false;
    std::lock_guard<std::mutex> layout(layout_mutex_);
    for (const MemSlot& mem : layout_) {
      if (gpa >= mem.gpa && gpa - mem.gpa < mem.size) return false;
    }
    return true;
  }

  // KVM_RUN through the gate that a memory-slot change closes. `immediate`:
  // with immediate_exit (finish a pending operation, run nothing).
  int enterGuest(VcpuSlot& s, bool immediate) {
    {
      std::unique_lock<std::mutex> lock(gate_mutex_);
      gate_cv_.wait(lock, [&] { return !gate_closed_; });
      in_guest_++;
    }
    if (immediate) setImmediateExit(s.run, true);
    // The guest (or the operation it finishes) changes them.
    s.regs.valid = s.sregs.valid = false;
    const int r = ioctl(s.fd, KVM_RUN, 0);
    const int err = errno;
    if (sync_regs_ && (r == 0 || err == EINTR)) {
      s.regs = {s.run->s.regs.regs, true};
      s.sregs = {s.run->s.regs.sregs, true};
    }
    {
      std::lock_guard<std::mutex> lock(gate_mutex_);
      if (--in_guest_ == 0) gate_cv_.notify_all();
    }
    errno = err;
    return r;
  }

  // Holds every vCPU out of KVM_RUN: kicks those inside (immediate_exit and
  // the stop signal, again every millisecond until they are out) and keeps
  // the others from entering until openGate.
  void closeGate() {
    std::unique_lock<std::mutex> lock(gate_mutex_);
    gate_closed_ = true;
    while (in_guest_ > 0) {
      for (auto& owned : vcpus_) {
        setImmediateExit(owned->run, true);
        if (owned->thread_known.load()) pthread_kill(owned->thread, stopSignal());
      }
      gate_cv_.wait_for(lock, std::chrono::milliseconds(1));
    }
  }

  void openGate() {
    std::lock_guard<std::mutex> lock(gate_mutex_);
    for (auto& owned : vcpus_) {
      setImmediateExit(owned->run, false);
      if (owned->stop.load()) setImmediateExit(owned->run, true);  // a stop requested stays
    }
    gate_closed_ = false;
    gate_cv_.notify_all();
  }

  // One KVM_EXIT_MMIO. Guest RAM (a page a watch took out of the memory
  // slots or made read-only) is read or written in its host memory, and the
  // access is matched against this vCPU's memory-slot watches (the first
  // overlapping one of a matching kind goes to `hit`); anything else has
  // nothing behind it (the local APIC and IOAPIC are in the kernel): reads
  // are all ones, writes are dropped.
  void emulateMmio(int vcpu, WatchHit* hit) {
    VcpuSlot& s = slot(vcpu);
    auto& mmio = s.run->mmio;
    const uint64_t gpa = mmio.phys_addr;
    const uint32_t len = std::min<uint32_t>(mmio.len, sizeof mmio.data);
    if (gpa >= ram_size_ || ram_size_ - gpa < len) {
      if (!mmio.is_write) std::memset(mmio.data, 0xff, sizeof mmio.data);
      return;
    }
    if (mmio.is_write) {
      std::memcpy(ram_ + gpa, mmio.data, len);
    } else {
      std::memcpy(mmio.data, ram_ + gpa, len);
    }
    if (hit->slot >= 0) return;
    std::lock_guard<std::mutex> lock(s.debug_mutex);
    for (int i = 0; i < kDebugSlotCount; i++) {
      const DebugSlot& watch = s.slots[i];
      if (!usesMemslots(watch) || !s.watch_mapped[i]) continue;
      const bool kind = watch.kind == DebugSlotKind::kAccess ||
                        (watch.kind == DebugSlotKind::kWrite) == (mmio.is_write != 0);
      const uint64_t start = s.watch_gpa[i];
      if (kind && gpa < start + watch.length && start < gpa + len) {
        hit->slot = i;
        hit->what = watch;
        return;
      }
    }
  }

  // A single step's trap, with no debug slot hit.
  static bool isStepTrap(const kvm_run* run) {
    return run->exit_reason == KVM_EXIT_DEBUG && run->debug.arch.exception == 1 &&
           (run->debug.arch.dr6 & kDr6Hits) == 0;
  }

  int kvm_fd_ = -1, vm_fd_ = -1;
  uint8_t* ram_ = nullptr;
  uint64_t ram_size_ = 0;
  size_t run_size_ = 0;
  size_t xsave_size_ = kXsaveSize;
  bool pvm_ = false;
  bool blockirq_ = false;
  std::atomic<bool> breakpoint_exits_{false};
  std::vector<std::unique_ptr<VcpuSlot>> vcpus_;
  // Guest RAM's memory slots (relayout), and what laying them out needs.
  bool readonly_mem_ = false;
  // KVM copies the registers and segments into kvm_run at every exit.
  bool sync_regs_ = false;
  static constexpr int kSyncRegs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
  int max_memslots_ = 32;
  std::mutex layout_mutex_;  // one layout change at a time; guards layout_
  std::vector<MemSlot> layout_;
  // The gate in front of KVM_RUN (enterGuest, closeGate, openGate).
  std::mutex gate_mutex_;
  std::condition_variable gate_cv_;
  int in_guest_ = 0;
  bool gate_closed_ = false;
};

}  // namespace

std::unique_ptr<Vmm> createKvmVmm(const VmConfig& config) {
  auto vmm = std::make_unique<KvmVmm>();
  vmm->open(config);
  return vmm;
}

}  // namespace vmm
