// The MC146818 real-time clock and CMOS RAM behind ports 0x70 (index) and
// 0x71 (data), the same on every backend (KVM has no in-kernel RTC). The
// time is the host's UTC clock, read when the guest reads a time register;
// the clock never raises IRQ 8. Linux reads it for the wall clock at boot.
#pragma once

#include <cstdint>
#include <ctime>
#include <mutex>

namespace vmm {

class CmosRtc {
 public:
  static constexpr uint16_t kIndexPort = 0x70;
  static constexpr uint16_t kDataPort = 0x71;

  // Port I/O: true when the port is the RTC's (a read's value in *value).
  bool out(uint16_t port, uint8_t value);
  bool in(uint16_t port, uint8_t* value);

 private:
  uint8_t read(uint8_t reg);
  uint8_t timeField(uint8_t reg, const std::tm& now) const;

  std::mutex mutex_;
  uint8_t index_ = 0;
  // Status register B as written: bit 1 24-hour, bit 2 binary (not BCD).
  uint8_t status_b_ = 0x02;
  uint8_t ram_[128] = {};
};

}  // namespace vmm
