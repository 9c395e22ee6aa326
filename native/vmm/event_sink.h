// Where the vCPU threads report to: the N-API layer implements this with a
// thread-safe function; tests can implement it with a queue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vmm/vmm.h"

namespace vmm {

struct StopEvent {
  int vcpu = 0;
  ExitKind kind = ExitKind::kPaused;
  uint64_t rip = 0;
  std::string message;
  // kDebugRegister / kWatchpoint (see Exit).
  int debug_slot = -1;
  uint64_t data_address = 0;
  DebugSlotKind data_access = DebugSlotKind::kWrite;
  MachineEnd end = MachineEnd::kUnknown;  // kShutdown (see Exit)
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  // A vCPU parked; it stays parked until resumed.
  virtual void onStop(const StopEvent& event) = 0;
  // A vCPU that waited for INIT/SIPI started running.
  virtual void onStarted(int vcpu) = 0;
  // Bytes the guest wrote to its serial console.
  virtual void onConsole(const uint8_t* data, size_t len) = 0;
  // Something worth a log line (an unknown port, ...).
  virtual void onLog(const std::string& line) = 0;
};

}  // namespace vmm
