// The I/O ports user space models, the same on every backend: COM1 as a
// 16550 that is always ready to transmit; every other port reads as all ones
// and is logged once.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>

#include "vmm/event_sink.h"

namespace vmm {

class PortIoBus {
 public:
  explicit PortIoBus(EventSink* sink) : sink_(sink) {}

  void out(uint16_t port, uint8_t size, uint32_t value);
  uint32_t in(uint16_t port, uint8_t size);

  static constexpr uint16_t kCom1 = 0x3f8;

 private:
  void logUnknownOnce(uint16_t port, bool is_in);

  EventSink* sink_;
  std::mutex mutex_;
  std::set<uint16_t> logged_ports_;
  // 16550 registers that keep what the guest writes.
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 0, dlm_ = 0;
};

}  // namespace vmm
