#include "vmm/port_io.h"

#include <cstdio>

namespace vmm {

namespace {
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kLsrTransmitterEmpty = 0x60;  // THRE | TEMT
constexpr uint8_t kIirNoInterrupt = 0x01;
constexpr uint8_t kMsrConnected = 0xb0;   // DCD | DSR | CTS
constexpr uint16_t kPostCodePort = 0x80;  // firmware progress codes: no device behind it
}  // namespace

void PortIoBus::out(uint16_t port, uint8_t size, uint32_t value) {
  const uint8_t byte = static_cast<uint8_t>(value);
  if (port < kCom1 || port > kCom1 + 7) {
    if (port != kPostCodePort) logUnknownOnce(port, false);
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  const bool dlab = (lcr_ & kLcrDlab) != 0;
  switch (port - kCom1) {
    case 0:
      if (dlab) {
        dll_ = byte;
      } else {
        sink_->onConsole(&byte, 1);
      }
      break;
    case 1:
      if (dlab) {
        dlm_ = byte;
      } else {
        ier_ = byte & 0x0f;
      }
      break;
    case 3:
      lcr_ = byte;
      break;
    case 4:
      mcr_ = byte & 0x1f;
      break;
    case 7:
      scr_ = byte;
      break;
    default:  // FCR and the read-only status registers ignore writes
      break;
  }
}

uint32_t PortIoBus::in(uint16_t port, uint8_t size) {
  const uint32_t all_ones = size >= 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
  if (port < kCom1 || port > kCom1 + 7) {
    if (port != kPostCodePort) logUnknownOnce(port, true);
    return all_ones;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  const bool dlab = (lcr_ & kLcrDlab) != 0;
  switch (port - kCom1) {
    case 0:
      return dlab ? dll_ : 0;  // no input: the receive buffer reads 0
    case 1:
      return dlab ? dlm_ : ier_;
    case 2:
      return kIirNoInterrupt;
    case 3:
      return lcr_;
    case 4:
      return mcr_;
    case 5:
      return kLsrTransmitterEmpty;
    case 6:
      return kMsrConnected;
    default:
      return scr_;
  }
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
