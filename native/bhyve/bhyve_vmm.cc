#include "bhyve/bhyve_vmm.h"

// clang-format off
#include <sys/param.h>
#include <sys/cpuset.h>
#include <machine/vmm.h>
#include <vmmapi.h>
// clang-format on

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#if defined(VMM_FAKE_VMM)
#include <fakevmm.h>
#endif

namespace vmm {

namespace {

constexpr uint64_t kCr0Pe = 1ull << 0, kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5, kCr4La57 = 1ull << 12;
constexpr uint64_t kEferLma = 1ull << 10;
constexpr uint32_t kAccessLong = 1u << 13;
constexpr uint64_t kHighMemBase = 4ull << 30;

const int kGprRegs[kGprCount] = {
    VM_REG_GUEST_RAX, VM_REG_GUEST_RBX, VM_REG_GUEST_RCX, VM_REG_GUEST_RDX,
    VM_REG_GUEST_RSI, VM_REG_GUEST_RDI, VM_REG_GUEST_RBP, VM_REG_GUEST_RSP,
    VM_REG_GUEST_R8,  VM_REG_GUEST_R9,  VM_REG_GUEST_R10, VM_REG_GUEST_R11,
    VM_REG_GUEST_R12, VM_REG_GUEST_R13, VM_REG_GUEST_R14, VM_REG_GUEST_R15};
const int kSegRegs[kSegCount] = {VM_REG_GUEST_ES,   VM_REG_GUEST_CS, VM_REG_GUEST_SS,
                                 VM_REG_GUEST_DS,   VM_REG_GUEST_FS, VM_REG_GUEST_GS,
                                 VM_REG_GUEST_LDTR, VM_REG_GUEST_TR};

// The 64-bit registers moved with vm_{get,set}_register_set. Control
// registers come first so that a set changes the mode before anything
// that depends on it.
struct ScalarReg {
  int reg;
  uint64_t RegisterFile::*field;
};
const ScalarReg kScalarRegs[] = {
    {VM_REG_GUEST_CR0, &RegisterFile::cr0},
    {VM_REG_GUEST_CR3, &RegisterFile::cr3},
    {VM_REG_GUEST_CR4, &RegisterFile::cr4},
    {VM_REG_GUEST_EFER, &RegisterFile::efer},
    {VM_REG_GUEST_CR2, &RegisterFile::cr2},
    {VM_REG_GUEST_RIP, &RegisterFile::rip},
    {VM_REG_GUEST_RFLAGS, &RegisterFile::rflags},
    {VM_REG_GUEST_KGS_BASE, &RegisterFile::kernel_gs_base},
    {VM_REG_GUEST_DR6, &RegisterFile::dr6},
    {VM_REG_GUEST_DR7, &RegisterFile::dr7},
};
const int kDrRegs[4] = {VM_REG_GUEST_DR0, VM_REG_GUEST_DR1, VM_REG_GUEST_DR2, VM_REG_GUEST_DR3};

[[noreturn]] void fail(const char* what, int vcpu = -1) {
  int err = errno;
  std::string code = err == ENOENT   ? "ENOENT"
                     : err == EBUSY  ? "EBUSY"
                     : err == EFAULT ? "EFAULT"
                                     : "EINVAL";
  std::string message = std::string(what) +
                        (vcpu >= 0 ? " (vCPU " + std::to_string(vcpu) + ")" : "") + ": " +
                        std::strerror(err);
  throw VmmError{code, message};
}

std::string suspendReason(int how) {
  switch (how) {
    case VM_SUSPEND_RESET:
      return "the guest reset the machine";
    case VM_SUSPEND_POWEROFF:
      return "the guest powered the machine off";
    case VM_SUSPEND_HALT:
      return "every vCPU halted with interrupts disabled";
    case VM_SUSPEND_TRIPLEFAULT:
      return "triple fault";
    default:
      return "the machine was suspended";
  }
}

MachineEnd machineEnd(int how) {
  switch (how) {
    case VM_SUSPEND_RESET:
      return MachineEnd::kReset;
    case VM_SUSPEND_POWEROFF:
      return MachineEnd::kPowerOff;
    case VM_SUSPEND_HALT:
      return MachineEnd::kHalt;
    case VM_SUSPEND_TRIPLEFAULT:
      return MachineEnd::kTripleFault;
    default:
      return MachineEnd::kUnknown;
  }
}

class BhyveVmm : public Vmm {
 public:
  // Separate from the constructor so that a half-created VM is destroyed.
  void open(const VmConfig& config) {
    static std::atomic<int> counter{0};
    name_ = (config.name.empty() ? "vmm-gdbstub" : config.name) + "-" + std::to_string(getpid()) +
            "-" + std::to_string(counter++);
    if (vm_create(name_.c_str()) != 0) fail("vm_create");
    ctx_ = vm_open(name_.c_str());
    if (ctx_ == nullptr) fail("vm_open");
    uint16_t sockets, cores, threads, maxcpus;
    if (vm_get_topology(ctx_, &sockets, &cores, &threads, &maxcpus) != 0) fail("vm_get_topology");
    if (config.vcpus < 1 || config.vcpus > maxcpus) {
      throw VmmError{"EINVAL", "this backend runs 1 to " + std::to_string(maxcpus) +
                                   " vCPUs, not " + std::to_string(config.vcpus)};
    }
    for (int i = 0; i < config.vcpus; i++) {
      struct vcpu* v = vm_vcpu_open(ctx_, i);
      if (v == nullptr) fail("vm_vcpu_open", i);
      vcpus_.push_back(v);
    }
    // One package of `vcpus` cores, as QEMU's -smp N presents them (bhyve's
    // own default is a package per vCPU): a guest then treats them as cores
    // sharing one TSC (Linux calibrates a second core from the first).
    if (vm_set_topology(ctx_, 1, static_cast<uint16_t>(config.vcpus), 1, maxcpus) != 0) {
      fail("vm_set_topology");
    }
    caps_ = std::vector<AppliedCaps>(config.vcpus);
    debug_slots_ = std::vector<DebugSlots>(config.vcpus);
    if (vm_setup_memory(ctx_, config.memory_bytes, VM_MMAP_ALL) != 0) fail("vm_setup_memory");
    addRegion(0, vm_get_lowmem_size(ctx_));
    addRegion(kHighMemBase, vm_get_highmem_size(ctx_));
  }

  ~BhyveVmm() override {
    for (struct vcpu* v : vcpus_) vm_vcpu_close(v);
    if (ctx_ != nullptr) vm_destroy(ctx_);
  }

  std::string backendName() const override {
#if defined(VMM_FAKE_VMM)
    return "emu";
#else
    return "bhyve";
#endif
  }
  int vcpuCount() const override { return static_cast<int>(vcpus_.size()); }
#if defined(VMM_FAKE_VMM)
  // Unicorn engines keep no per-thread state but the translation flags the
  // fake vm_run sets on the calling thread before each run.
  bool runsOnAnyThread() const override { return true; }
#endif
  std::vector<MemoryRegion> memoryRegions() const override { return regions_; }

  void getRegisters(int vcpu, RegisterFile* regs) override {
    struct vcpu* v = vcpus_[vcpu];
    std::vector<int> names;
    std::vector<uint64_t> values;
    collect(&names);
    values.resize(names.size());
    if (vm_get_register_set(v, names.size(), names.data(), values.data()) != 0) {
      fail("vm_get_register_set", vcpu);
    }
    size_t i = 0;
    for (int g = 0; g < kGprCount; g++) regs->gpr[g] = values[i++];
    for (const ScalarReg& s : kScalarRegs) regs->*s.field = values[i++];
    for (int d = 0; d < 4; d++) regs->dr[d] = values[i++];
    for (int s = 0; s < kSegCount; s++) regs->seg[s].selector = static_cast<uint16_t>(values[i++]);
    // CR8 is the TPR; a backend without it reads as 0.
    uint64_t tpr = 0;
    if (vm_get_register(v, VM_REG_GUEST_TPR, &tpr) == 0) regs->cr8 = tpr;
    for (int s = 0; s < kSegCount; s++) {
      if (vm_get_desc(v, kSegRegs[s], &regs->seg[s].base, &regs->seg[s].limit,
                      &regs->seg[s].access) != 0) {
        fail("vm_get_desc", vcpu);
      }
    }
    uint32_t unused_access;
    if (vm_get_desc(v, VM_REG_GUEST_GDTR, &regs->gdtr.base, &regs->gdtr.limit, &unused_access) !=
            0 ||
        vm_get_desc(v, VM_REG_GUEST_IDTR, &regs->idtr.base, &regs->idtr.limit, &unused_access) !=
            0) {
      fail("vm_get_desc", vcpu);
    }
    getFpu(vcpu, &regs->fpu);
  }

  void setRegisters(int vcpu, const RegisterFile& regs) override {
    struct vcpu* v = vcpus_[vcpu];
    // Descriptors first: the mode the control registers select is read from CS.
    for (int s = 0; s < kSegCount; s++) {
      const Segment& seg = regs.seg[s];
      if (vm_set_desc(v, kSegRegs[s], seg.base, seg.limit, seg.access) != 0)
        fail("vm_set_desc", vcpu);
    }
    if (vm_set_desc(v, VM_REG_GUEST_GDTR, regs.gdtr.base, regs.gdtr.limit, 0) != 0 ||
        vm_set_desc(v, VM_REG_GUEST_IDTR, regs.idtr.base, regs.idtr.limit, 0) != 0) {
      fail("vm_set_desc", vcpu);
    }
    std::vector<int> names;
    collect(&names);
    std::vector<uint64_t> values;
    for (int g = 0; g < kGprCount; g++) values.push_back(regs.gpr[g]);
    for (const ScalarReg& s : kScalarRegs) values.push_back(regs.*s.field);
    for (int d = 0; d < 4; d++) values.push_back(regs.dr[d]);
    for (int s = 0; s < kSegCount; s++) values.push_back(regs.seg[s].selector);
    if (vm_set_register_set(v, names.size(), names.data(), values.data()) != 0) {
      fail("vm_set_register_set", vcpu);
    }
    vm_set_register(v, VM_REG_GUEST_TPR, regs.cr8);  // best effort, as in getRegisters
    setFpu(vcpu, regs.fpu);
  }

  Translation gla2gpa(int vcpu, uint64_t gla, int prot, uint64_t* gpa) override {
    struct vcpu* v = vcpus_[vcpu];
    static const int names[] = {VM_REG_GUEST_CR0, VM_REG_GUEST_CR3, VM_REG_GUEST_CR4,
                                VM_REG_GUEST_EFER};
    uint64_t values[4];
    if (vm_get_register_set(v, 4, names, values) != 0) fail("vm_get_register_set", vcpu);
    uint64_t cs_base, ss_base;
    uint32_t cs_limit, cs_access, ss_limit, ss_access;
    if (vm_get_desc(v, VM_REG_GUEST_CS, &cs_base, &cs_limit, &cs_access) != 0 ||
        vm_get_desc(v, VM_REG_GUEST_SS, &ss_base, &ss_limit, &ss_access) != 0) {
      fail("vm_get_desc", vcpu);
    }
    const uint64_t cr0 = values[0], cr4 = values[2], efer = values[3];
    struct vm_guest_paging paging = {};
    paging.cr3 = values[1];
    paging.cpl = (ss_access >> 5) & 3;
    if (!(cr0 & kCr0Pe)) {
      paging.cpu_mode = CPU_MODE_REAL;
    } else if (efer & kEferLma) {
      paging.cpu_mode = (cs_access & kAccessLong) ? CPU_MODE_64BIT : CPU_MODE_COMPATIBILITY;
    } else {
      paging.cpu_mode = CPU_MODE_PROTECTED;
    }
    if (!(cr0 & kCr0Pg)) {
      paging.paging_mode = PAGING_MODE_FLAT;
    } else if (!(cr4 & kCr4Pae)) {
      paging.paging_mode = PAGING_MODE_32;
    } else if (efer & kEferLma) {
      paging.paging_mode = (cr4 & kCr4La57) ? PAGING_MODE_64_LA57 : PAGING_MODE_64;
    } else {
      paging.paging_mode = PAGING_MODE_PAE;
    }
    int fault = 0;
    if (vm_gla2gpa_nofault(v, &paging, gla, prot, gpa, &fault) != 0) return Translation::kError;
    return fault ? Translation::kFault : Translation::kOk;
  }

  void codeModified(uint64_t gpa, uint64_t len) override {
#if defined(VMM_FAKE_VMM)
    vm_code_modified(ctx_, gpa, len);
#endif
  }

#if defined(VMM_FAKE_VMM)
  bool stepOverKeepingCode(int vcpu, bool on) override {
    return vm_set_step_over(vcpus_[vcpu], on ? 1 : 0) == 0;
  }
#endif

  // Applied by each vCPU's own thread before it runs: bhyve freezes a vCPU
  // for capability changes, which a running vCPU would make us wait for.
  void setBreakpointExits(bool on) override { breakpoint_exits_ = on; }

#if defined(VMM_FAKE_VMM)
  // The fake vmm's debug slots (fakevmm.h). bhyve itself has no call for
  // them, so on FreeBSD this backend offers none.
  DebugCapabilities debugCapabilities() const override {
    return DebugCapabilities{kDebugSlotCount, 0xf};  // exec, write, read, access
  }

  void setDebugSlots(int vcpu, const DebugSlots& slots) override {
    struct fakevmm_debug_slot fake[FAKEVMM_DEBUG_SLOTS] = {};
    static_assert(FAKEVMM_DEBUG_SLOTS == kDebugSlotCount, "one fake slot per seam slot");
    for (int i = 0; i < kDebugSlotCount; i++) {
      fake[i].enabled = slots[i].enabled;
      fake[i].kind = static_cast<int>(slots[i].kind);  // the same order as fakevmm_debug_kind
      fake[i].gla = slots[i].address;
      fake[i].length = slots[i].length;
    }
    if (vm_set_debug_slots(vcpus_[vcpu], fake, kDebugSlotCount) != 0) {
      fail("vm_set_debug_slots", vcpu);
    }
    std::lock_guard<std::mutex> lock(debug_mutex_);
    debug_slots_[vcpu] = slots;
  }
#endif

  // The same line on the 8259 and the I/O APIC pin of that number, as bhyve's
  // own ISA devices drive them.
  void setIrqLine(int irq, bool level) override {
    int rc = level ? vm_isa_assert_irq(ctx_, irq, irq) : vm_isa_deassert_irq(ctx_, irq, irq);
    if (rc != 0) fail(level ? "vm_isa_assert_irq" : "vm_isa_deassert_irq");
  }

  void injectException(int vcpu, int vector, bool has_error_code, uint32_t error_code) override {
#if !defined(VMM_FAKE_VMM)
    // VT-x delivers #BP as a software exception: the return address it pushes
    // is RIP plus the VM-entry instruction length, which must not be 0. So
    // RIP goes back onto the one-byte int3 the caller stepped past, with
    // length 1 (as bhyve's own gdb stub does).
    constexpr int kVectorBreakpoint = 3;
    if (vector == kVectorBreakpoint) {
      struct vcpu* v = vcpus_[vcpu];
      uint64_t rip = 0;
      if (vm_get_register(v, VM_REG_GUEST_RIP, &rip) != 0 ||
          vm_set_register(v, VM_REG_GUEST_RIP, rip - 1) != 0 ||
          vm_set_register(v, VM_REG_GUEST_ENTRY_INST_LENGTH, 1) != 0) {
        fail("vm_set_register", vcpu);
      }
    }
#endif
    // restart_instruction 0: the exception is taken at the RIP set now.
    if (vm_inject_exception(vcpus_[vcpu], vector, has_error_code ? 1 : 0, error_code, 0) != 0) {
      fail("vm_inject_exception", vcpu);
    }
  }

  void activate(int vcpu) override {
    if (vm_activate_cpu(vcpus_[vcpu]) != 0) fail("vm_activate_cpu", vcpu);
  }

  void startAp(int vcpu, uint64_t rip) override {
    // The state after INIT and STARTUP: real mode at vector * 0x1000.
    RegisterFile regs;
    regs.rflags = 0x2;
    regs.cr0 = 0x60000010;  // CD | NW | ET
    regs.dr6 = 0xffff0ff0;
    regs.dr7 = 0x400;
    for (Segment& seg : regs.seg) seg = Segment{0, 0xffff, 0x93, 0};
    regs.seg[kCs] = Segment{rip, 0xffff, 0x9b, static_cast<uint16_t>(rip >> 4)};
    regs.seg[kLdtr] = Segment{0, 0xffff, 0x82, 0};
    regs.seg[kTr] = Segment{0, 0xffff, 0x8b, 0};
    regs.gdtr = TableRegister{0, 0xffff};
    regs.idtr = TableRegister{0, 0xffff};
    regs.fpu.fcw = 0x40;
    regs.fpu.mxcsr = 0x1f80;
    setRegisters(vcpu, regs);
    activate(vcpu);
  }

  Exit run(int vcpu, const RunOptions& options) override {
    struct vcpu* v = vcpus_[vcpu];
    applyCaps(vcpu, options);
#if defined(VMM_FAKE_VMM)
    // The fake vmm steps through a range itself; on bhyve the seam loops over MTRAP steps.
    const bool range = options.mode == ResumeMode::kStep && options.has_range;
    if (vm_set_step_range(v, range ? options.range_start : 0, range ? options.range_end : 0) != 0) {
      fail("vm_set_step_range", vcpu);
    }
    if (vm_set_run_budget(v, static_cast<uint64_t>(options.budget.count())) != 0) {
      fail("vm_set_run_budget", vcpu);
    }
#endif
    struct vm_exit vme;
    std::memset(&vme, 0, sizeof vme);
    cpuset_t dmask;
    struct vm_run vmrun;
    std::memset(&vmrun, 0, sizeof vmrun);
    vmrun.vm_exit = &vme;
    vmrun.cpuset = &dmask;
    vmrun.cpusetsize = sizeof dmask;
    while (vm_run(v, &vmrun) != 0) {
      if (errno == EINTR) continue;
      return Exit{
          ExitKind::kError, 0, 0, 0, 0, 0, -1, 0, std::string("vm_run: ") + std::strerror(errno)};
    }
    Exit exit;
    exit.rip = vme.rip;
    exit.inst_length = static_cast<uint8_t>(vme.inst_length);
    switch (vme.exitcode) {
      case VM_EXITCODE_INOUT:
        if (vme.u.inout.string || vme.u.inout.rep) {
          exit.kind = ExitKind::kError;
          exit.message = "string port I/O (ins/outs) is not supported";
          return exit;
        }
        exit.kind = vme.u.inout.in ? ExitKind::kPortIn : ExitKind::kPortOut;
        exit.port = vme.u.inout.port;
        exit.size = static_cast<uint8_t>(vme.u.inout.bytes);
        exit.value = vme.u.inout.eax;
        return exit;
      case VM_EXITCODE_BPT:
        // Stay at the int3: the debugger decides whether it was its own.
        if (vm_set_register(v, VM_REG_GUEST_RIP, vme.rip) != 0) fail("vm_set_register", vcpu);
        exit.kind = ExitKind::kBreakpoint;
        return exit;
      case VM_EXITCODE_MTRAP:
        exit.kind = ExitKind::kStep;
        return exit;
      case VM_EXITCODE_DEBUG:
        exit.kind = ExitKind::kPaused;
        vm_get_register(v, VM_REG_GUEST_RIP, &exit.rip);
        return exit;
      case VM_EXITCODE_DB:
        exit.kind = ExitKind::kDebugRegister;
        debugSlotHit(vcpu, &exit);
        return exit;
      case VM_EXITCODE_HLT:
        exit.kind = ExitKind::kHalt;
        return exit;
      case VM_EXITCODE_SUSPENDED:
        exit.kind = ExitKind::kShutdown;
        exit.message = suspendReason(vme.u.suspended.how);
        exit.end = machineEnd(vme.u.suspended.how);
        return exit;
      case VM_EXITCODE_BOGUS:
        // Nothing for user space (bhyve(8) runs the vCPU again), or the fake
        // vmm's run budget spent.
        exit.kind = ExitKind::kTimeUp;
        return exit;
      case VM_EXITCODE_SPINUP_AP:
        exit.kind = ExitKind::kStartAp;
        exit.target_vcpu = vme.u.spinup_ap.vcpu;
        exit.start_rip = vme.u.spinup_ap.rip;
        return exit;
      default:
        exit.kind = ExitKind::kError;
        exit.message = "unhandled vm exit code " + std::to_string(vme.exitcode);
        return exit;
    }
  }

  void completePortIo(int vcpu, const Exit& exit, uint32_t in_value) override {
    struct vcpu* v = vcpus_[vcpu];
    if (exit.kind == ExitKind::kPortIn) {
      uint64_t rax = 0;
      if (vm_get_register(v, VM_REG_GUEST_RAX, &rax) != 0) fail("vm_get_register", vcpu);
      // A 32-bit IN zero-extends into RAX; narrower ones keep the upper bytes.
      if (exit.size == 4) {
        rax = in_value;
      } else {
        const uint64_t mask = exit.size == 2 ? 0xffff : 0xff;
        rax = (rax & ~mask) | (in_value & mask);
      }
      if (vm_set_register(v, VM_REG_GUEST_RAX, rax) != 0) fail("vm_set_register", vcpu);
    }
    // inst_length 0: the backend already executed the instruction (an OUTS element).
    if (exit.inst_length > 0 &&
        vm_set_register(v, VM_REG_GUEST_RIP, exit.rip + exit.inst_length) != 0) {
      fail("vm_set_register", vcpu);
    }
  }

  void requestStop(int vcpu) override { vm_suspend_cpu(vcpus_[vcpu]); }
  void clearStop(int vcpu) override { vm_resume_cpu(vcpus_[vcpu]); }

 private:
  // Capability values as last written for one vCPU; -1 = never written.
  struct AppliedCaps {
    int mtrap = -1, mask_hwintr = -1, bpt = -1;
  };

  void setCap(int vcpu, enum vm_cap_type cap, int want, int* applied) {
    if (*applied == want) return;
    if (vm_set_capability(vcpus_[vcpu], cap, want) != 0) fail("vm_set_capability", vcpu);
    *applied = want;
  }

  void applyCaps(int vcpu, const RunOptions& options) {
    AppliedCaps& caps = caps_[vcpu];
    setCap(vcpu, VM_CAP_MTRAP_EXIT, options.mode == ResumeMode::kStep, &caps.mtrap);
    setCap(vcpu, VM_CAP_MASK_HWINTR, options.mask_interrupts, &caps.mask_hwintr);
    setCap(vcpu, VM_CAP_BPT_EXIT, breakpoint_exits_.load(), &caps.bpt);
  }

  // Which of the debugger's slots a VM_EXITCODE_DB is about (none: the
  // guest's own debug registers).
  void debugSlotHit(int vcpu, Exit* exit) {
#if defined(VMM_FAKE_VMM)
    struct fakevmm_debug_status status;
    if (vm_get_debug_status(vcpus_[vcpu], &status) != 0 || status.hits == 0) return;
    int hit = 0;
    while (!(status.hits & (1u << hit))) hit++;
    DebugSlot slot;
    {
      std::lock_guard<std::mutex> lock(debug_mutex_);
      slot = debug_slots_[vcpu][hit];
    }
    exit->debug_slot = hit;
    if (slot.kind != DebugSlotKind::kExec) {
      exit->kind = ExitKind::kWatchpoint;
      exit->data_address = slot.address;
      exit->data_access = slot.kind;
    }
#else
    (void)vcpu, (void)exit;
#endif
  }

  static void collect(std::vector<int>* names) {
    names->assign(std::begin(kGprRegs), std::end(kGprRegs));
    for (const ScalarReg& s : kScalarRegs) names->push_back(s.reg);
    names->insert(names->end(), std::begin(kDrRegs), std::end(kDrRegs));
    names->insert(names->end(), std::begin(kSegRegs), std::end(kSegRegs));
  }

  void addRegion(uint64_t gpa, size_t size) {
    if (size == 0) return;
    void* host = vm_map_gpa(ctx_, gpa, size);
    if (host == nullptr) fail("vm_map_gpa");
    regions_.push_back(MemoryRegion{gpa, size, static_cast<uint8_t*>(host)});
  }

  void getFpu(int vcpu, FpuState* fpu) {
#if defined(VMM_FAKE_VMM)
    struct fakevmm_fpu f;
    if (vm_get_fpu_state(vcpus_[vcpu], &f) != 0) fail("vm_get_fpu_state", vcpu);
    fromFake(f, fpu);
#else
    *fpu = FpuState{};  // libvmmapi offers no FPU state
#endif
  }

  void setFpu(int vcpu, const FpuState& fpu) {
#if defined(VMM_FAKE_VMM)
    struct fakevmm_fpu f;
    toFake(fpu, &f);
    if (vm_set_fpu_state(vcpus_[vcpu], &f) != 0) fail("vm_set_fpu_state", vcpu);
#endif
  }

#if defined(VMM_FAKE_VMM)
  static void fromFake(const struct fakevmm_fpu& f, FpuState* out) {
    std::memcpy(out->st, f.st, sizeof out->st);
    std::memcpy(out->xmm, f.xmm, sizeof out->xmm);
    out->fcw = f.fcw, out->fsw = f.fsw, out->ftw = f.ftw, out->fop = f.fop;
    out->fip = f.fip, out->fcs = f.fcs, out->fdp = f.fdp, out->fds = f.fds;
    out->mxcsr = f.mxcsr;
  }
  static void toFake(const FpuState& in, struct fakevmm_fpu* f) {
    std::memcpy(f->st, in.st, sizeof f->st);
    std::memcpy(f->xmm, in.xmm, sizeof f->xmm);
    f->fcw = in.fcw, f->fsw = in.fsw, f->ftw = in.ftw, f->fop = in.fop;
    f->fip = in.fip, f->fcs = in.fcs, f->fdp = in.fdp, f->fds = in.fds;
    f->mxcsr = in.mxcsr;
  }
#endif

  std::string name_;
  struct vmctx* ctx_ = nullptr;
  std::vector<struct vcpu*> vcpus_;
  std::vector<AppliedCaps> caps_;
  std::mutex debug_mutex_;
  std::vector<DebugSlots> debug_slots_;  // as last set, to describe a hit
  std::vector<MemoryRegion> regions_;
  std::atomic<bool> breakpoint_exits_{false};
};

}  // namespace

std::unique_ptr<Vmm> createBhyveVmm(const VmConfig& config) {
  auto vmm = std::make_unique<BhyveVmm>();
  vmm->open(config);
  return vmm;
}

}  // namespace vmm
