// The seam between the N-API layer and a hypervisor backend. A backend
// implements Vmm; nothing above this file knows which backend it is.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vmm/registers.h"

namespace vmm {

// The software breakpoint byte (int3) the debugger plants in guest memory.
constexpr uint8_t kInt3 = 0xcc;

// Why Vmm::run returned.
enum class ExitKind {
  kPaused,         // requestStop() took effect
  kBreakpoint,     // int3 executed while breakpoint exits are on; rip = the int3
  kStep,           // one instruction executed in step mode
  kDebugRegister,  // an execute breakpoint (a debug slot, or the guest's DR0-DR3) hit; rip = it
  kWatchpoint,     // a data access hit a debug slot; the instruction completed, rip is past it
  kHalt,           // hlt that the backend reports to user space
  kShutdown,       // triple fault, guest-requested power-off, all vCPUs halted
  kPortIn,         // IN from a port the backend does not model
  kPortOut,        // OUT to a port the backend does not model
  kStartAp,        // INIT/SIPI sent to a vCPU user space must start
  kError,          // anything the backend cannot continue from
  // Nothing of the guest's: the run's time budget (RunOptions::budget) is
  // spent, or the hypervisor returned for a reason of its own (bhyve's
  // VM_EXITCODE_BOGUS). The vCPU is at an instruction boundary; run again.
  kTimeUp,
};

// How a kShutdown ended the machine, where the backend knows it. A power-off,
// a reset or every vCPU halted for good is the guest's end (gdb's exit reply
// `W`); a triple fault leaves a vCPU to look at.
enum class MachineEnd : uint8_t { kUnknown, kPowerOff, kReset, kHalt, kTripleFault };

// Debug slots: the debugger's hardware breakpoints and watchpoints, four per
// vCPU as x86's DR0-DR3 (optional: see Vmm::debugCapabilities).
enum class DebugSlotKind : uint8_t { kExec, kWrite, kRead, kAccess };
constexpr int kDebugSlotCount = 4;

struct DebugSlot {
  bool enabled = false;
  uint64_t address = 0;  // guest-linear, as DR0-DR3 hold it
  DebugSlotKind kind = DebugSlotKind::kExec;
  uint8_t length = 1;  // data slots: 1, 2, 4 or 8, aligned
};
using DebugSlots = std::array<DebugSlot, kDebugSlotCount>;

// What a backend's debug slots can do: `slots` per vCPU (0: none) and one
// bit per DebugSlotKind it can set (1 << kind).
struct DebugCapabilities {
  int slots = 0;
  unsigned kinds = 0;
  bool has(DebugSlotKind kind) const { return (kinds & (1u << static_cast<int>(kind))) != 0; }
};

struct Exit {
  ExitKind kind = ExitKind::kError;
  uint64_t rip = 0;
  // kPortIn / kPortOut
  uint16_t port = 0;
  uint8_t size = 0;
  uint32_t value = 0;
  uint8_t inst_length = 0;  // of the exiting instruction, where the backend knows it
  // kStartAp
  int target_vcpu = -1;
  uint64_t start_rip = 0;
  // kShutdown / kError
  std::string message;
  MachineEnd end = MachineEnd::kUnknown;  // kShutdown
  // kDebugRegister / kWatchpoint: the debug slot hit (-1: not one of the
  // debugger's), and for kWatchpoint the slot's address and kind.
  int debug_slot = -1;
  uint64_t data_address = 0;
  DebugSlotKind data_access = DebugSlotKind::kWrite;
};

enum class ResumeMode { kContinue, kStep };

struct RunOptions {
  ResumeMode mode = ResumeMode::kContinue;
  bool mask_interrupts = false;  // no external interrupt is delivered while set
  // kStep only: range stepping (gdb's vCont;r). After the first instruction
  // the vCPU keeps stepping while rip is in [range_start, range_end); a stop
  // for any other reason (breakpoint, watchpoint, pause) ends it as usual.
  // Backends may step through the range themselves (emu); the seam loops
  // over single steps for those that do not.
  bool has_range = false;
  uint64_t range_start = 0, range_end = 0;
  bool inRange(uint64_t rip) const { return has_range && rip >= range_start && rip < range_end; }
  // kContinue: where the backend runs on any thread and no other vCPU is
  // running (Machine::runsHere), start on the caller's thread and hand over
  // to the vCPU's own thread only if it has not stopped within a budget
  // (Machine::kRunHereBudget). A continue that stops soon (the next hit of a
  // breakpoint whose condition is false, a dprintf) then costs no thread
  // hand-off either way.
  bool start_here = false;
  // How long run() may go on before it returns kTimeUp (0: no limit). Set by
  // the seam; backends that cannot keep it ignore it (they run on one thread).
  std::chrono::microseconds budget{0};
};

// One contiguous range of guest-physical RAM and where it is mapped here.
struct MemoryRegion {
  uint64_t gpa = 0;
  uint64_t size = 0;
  uint8_t* host = nullptr;
};

// Result of a guest-linear to guest-physical translation.
enum class Translation { kOk, kFault, kError };

// Access kinds for gla2gpa, as in PROT_READ / PROT_WRITE / PROT_EXEC.
constexpr int kProtRead = 1, kProtWrite = 2, kProtExec = 4;

struct VmConfig {
  std::string name;
  uint64_t memory_bytes = 0;
  int vcpus = 1;
};

// Thrown by backends (and the seam) with an errno-style code for JS.
struct VmmError {
  std::string code;  // "EINVAL", "ENOENT", "EFAULT", "EBUSY", ...
  std::string message;
};

class Vmm {
 public:
  virtual ~Vmm() = default;

  virtual std::string backendName() const = 0;
  virtual int vcpuCount() const = 0;
  virtual std::vector<MemoryRegion> memoryRegions() const = 0;

  // Only while the vCPU is not inside run(). Throw VmmError on failure.
  virtual void getRegisters(int vcpu, RegisterFile* regs) = 0;
  virtual void setRegisters(int vcpu, const RegisterFile& regs) = 0;
  virtual Translation gla2gpa(int vcpu, uint64_t gla, int prot, uint64_t* gpa) = 0;

  // Guest memory changed under the guest (a breakpoint byte): backends with
  // translated-code caches drop them.
  virtual void codeModified(uint64_t gpa, uint64_t len) {}

  // Optional: the caller steps over its own software breakpoint at gpa
  // and has written the original byte back over the 0xCC without
  // codeModified; after the step it writes the 0xCC back the same way and
  // calls this with on = false. Meanwhile the backend runs the vCPU's step
  // from translated code of its own, so that the code translated from the
  // 0xCC stays valid and the step's is kept for the next time. Only with
  // the vCPU parked and no other running. False: the backend has no such
  // thing, and the caller tells it of both writes (codeModified).
  virtual bool stepOverKeepingCode(int vcpu, bool on) { return false; }

  // Breakpoint exits for int3 (all vCPUs).
  virtual void setBreakpointExits(bool on) = 0;

  // Optional: the debug slots this backend has (none by default).
  virtual DebugCapabilities debugCapabilities() const { return {}; }
  // Replaces one vCPU's debug slots; from any thread, in effect from the
  // vCPU's next entry into the guest. A hit stops the vCPU with
  // kDebugRegister (execute: before the instruction) or kWatchpoint (data:
  // after the instruction that accessed it).
  virtual void setDebugSlots(int vcpu, const DebugSlots& slots) {
    throw VmmError{"ENOTSUP", "this backend has no debug slots"};
  }

  // Only while the vCPU is not inside run(): deliver exception `vector`
  // through the guest IDT at the next entry, at the current RIP (for a trap
  // such as an int3 that was not ours, the caller moves RIP past it first).
  virtual void injectException(int vcpu, int vector, bool has_error_code, uint32_t error_code) = 0;
  // An ISA interrupt line (0-15) at `level`, as the devices user space models
  // drive it (COM1's IRQ 4). Thread-safe: called from vCPU threads and the JS thread.
  virtual void setIrqLine(int irq, bool level) {}

  // Make a vCPU that has not started yet runnable at a real-mode address
  // (after INIT/SIPI), or the boot vCPU at its loaded state.
  virtual void activate(int vcpu) = 0;
  virtual void startAp(int vcpu, uint64_t rip) = 0;

  // True when the hypervisor starts APs on INIT/SIPI by itself (KVM's
  // in-kernel local APIC). Then Machine::start() runs every AP's thread at
  // once: run() for an AP waits inside the backend until its SIPI, then
  // returns kStartAp with target_vcpu = that AP before it has executed
  // anything. Until then the AP is "waiting for SIPI" to the seam, and its
  // registers read as the reset state without entering the hypervisor.
  virtual bool startsApsItself() const { return false; }

  // True when run() may be called from any thread (one at a time per vCPU):
  // then a single step runs on the thread that asks for it, without waking
  // the vCPU's thread and waiting for it (the fake vmm). KVM wants KVM_RUN
  // on the thread that made the vCPU.
  virtual bool runsOnAnyThread() const { return false; }

  // On the vCPU's own thread: run until something user space must see.
  virtual Exit run(int vcpu, const RunOptions& options) = 0;
  // On the vCPU's own thread, after kPortIn or kPortOut: finish the
  // instruction (an IN reads in_value) so that the registers read back as
  // after it, whether or not run() is called again.
  virtual void completePortIo(int vcpu, const Exit& exit, uint32_t in_value) = 0;

  // From any thread: make run() return kPaused promptly, and keep it so
  // until clearStop().
  virtual void requestStop(int vcpu) = 0;
  virtual void clearStop(int vcpu) = 0;
};

using VmmFactory = std::function<std::unique_ptr<Vmm>(const VmConfig&)>;

// Backends compiled into this addon, by name ("emu", "bhyve", "kvm").
std::map<std::string, VmmFactory>& backendRegistry();

}  // namespace vmm
