#include "vmm/port_io.h"

#include <cstdio>

namespace vmm {

namespace {
constexpr uint16_t kPostCodePort = 0x80;  // firmware progress codes: no device behind it
constexpr uint8_t kI8042Reset = 0xfe;     // pulse the reset line
}  // namespace

PortIoBus::PortIoBus(EventSink* sink, std::function<void(int, bool)> set_irq)
    : sink_(sink),
      com1_([sink](uint8_t byte) { sink->onConsole(&byte, 1); },
            [set_irq](bool level) { set_irq(kCom1Irq, level); }) {}

void PortIoBus::out(uint16_t port, uint8_t size, uint32_t value) {
  const uint8_t byte = static_cast<uint8_t>(value);
  if (port >= kCom1 && port <= kCom1 + 7) {
    com1_.out(port - kCom1, byte);
  } else if (port == kI8042Command) {
    if (byte == kI8042Reset) reset_requested_ = true;
  } else if (!rtc_.out(port, byte) && port != kPostCodePort) {
    logUnknownOnce(port, false);
  }
}

uint32_t PortIoBus::in(uint16_t port, uint8_t size) {
  const uint32_t all_ones = size >= 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
  if (port >= kCom1 && port <= kCom1 + 7) return com1_.in(port - kCom1);
  uint8_t byte = 0;
  if (rtc_.in(port, &byte)) return byte;
  // No keyboard controller: its status port reads as all ones, as an
  // absent one does (Linux then reports none and goes on).
  if (port != kPostCodePort && port != kI8042Command) logUnknownOnce(port, true);
  return all_ones;
}

void PortIoBus::logUnknownOnce(uint16_t port, bool is_in) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!logged_ports_.insert(port).second) return;
  }
  char line[96];
  std::snprintf(line, sizeof line,
                "guest %s unmodelled I/O port 0x%x (reads as all ones; logged once)",
                is_in ? "reads" : "writes", port);
  sink_->onLog(line);
}

}  // namespace vmm
