// The I/O ports user space models, the same on every backend: COM1 (a
// 16550A on IRQ 4, uart16550.h), the RTC and CMOS RAM (cmos_rtc.h), and the
// i8042's reset command (0xFE to port 0x64: the guest resets the machine,
// which ends the run). Every other port reads as all ones and is logged once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>

#include "vmm/cmos_rtc.h"
#include "vmm/event_sink.h"
#include "vmm/uart16550.h"

namespace vmm {

class PortIoBus {
 public:
  // `set_irq(irq, level)` drives an ISA interrupt line (the backend's PIC).
  PortIoBus(EventSink* sink, std::function<void(int, bool)> set_irq);

  void out(uint16_t port, uint8_t size, uint32_t value);
  uint32_t in(uint16_t port, uint8_t size);
  // Input for COM1 (the guest's console).
  void serialInput(const uint8_t* data, size_t len) { com1_.receive(data, len); }
  // True once after the guest asked the i8042 for a reset.
  bool takeResetRequest() { return reset_requested_.exchange(false); }

  static constexpr uint16_t kCom1 = 0x3f8;
  static constexpr int kCom1Irq = 4;
  static constexpr uint16_t kI8042Command = 0x64;

 private:
  void logUnknownOnce(uint16_t port, bool is_in);

  EventSink* sink_;
  Uart16550 com1_;
  CmosRtc rtc_;
  std::atomic<bool> reset_requested_{false};
  std::mutex mutex_;
  std::set<uint16_t> logged_ports_;
};

}  // namespace vmm
