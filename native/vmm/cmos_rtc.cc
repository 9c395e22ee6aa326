#include "vmm/cmos_rtc.h"

namespace vmm {

namespace {
constexpr uint8_t kSeconds = 0x00, kMinutes = 0x02, kHours = 0x04, kWeekday = 0x06,
                  kDayOfMonth = 0x07, kMonth = 0x08, kYear = 0x09, kStatusA = 0x0a, kStatusB = 0x0b,
                  kStatusC = 0x0c, kStatusD = 0x0d, kCentury = 0x32;
constexpr uint8_t kStatusADivider = 0x26;  // 32.768 kHz time base, 1024 Hz rate; UIP clear
constexpr uint8_t kStatusDValid = 0x80;    // the battery is good
constexpr uint8_t kBinary = 0x04, k24Hour = 0x02;

uint8_t toBcd(int v) { return static_cast<uint8_t>(((v / 10) << 4) | (v % 10)); }
}  // namespace

bool CmosRtc::out(uint16_t port, uint8_t value) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (port == kIndexPort) {
    index_ = value & 0x7f;  // bit 7 masks NMIs on a PC: nothing to mask here
    return true;
  }
  if (port != kDataPort) return false;
  if (index_ == kStatusB) {
    status_b_ = value;
  } else if (index_ > kStatusD) {
    ram_[index_] = value;  // the time registers keep the host's time
  }
  return true;
}

bool CmosRtc::in(uint16_t port, uint8_t* value) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (port == kIndexPort) {
    *value = 0xff;  // write-only on most chipsets
    return true;
  }
  if (port != kDataPort) return false;
  *value = read(index_);
  return true;
}

uint8_t CmosRtc::read(uint8_t reg) {
  switch (reg) {
    case kStatusA:
      return kStatusADivider;
    case kStatusB:
      return status_b_;
    case kStatusC:
      return 0;  // no interrupt flags: the RTC raises none
    case kStatusD:
      return kStatusDValid;
    default:
      break;
  }
  if (reg <= kYear || reg == kCentury) {
    std::time_t t = std::time(nullptr);
    std::tm now{};
    gmtime_r(&t, &now);
    return timeField(reg, now);
  }
  return ram_[reg];
}

uint8_t CmosRtc::timeField(uint8_t reg, const std::tm& now) const {
  int v;
  bool pm = false;
  switch (reg) {
    case kSeconds:
      v = now.tm_sec;
      break;
    case kMinutes:
      v = now.tm_min;
      break;
    case kHours:
      v = now.tm_hour;
      if (!(status_b_ & k24Hour)) {
        pm = v >= 12;
        v = v % 12 == 0 ? 12 : v % 12;
      }
      break;
    case kWeekday:
      v = now.tm_wday + 1;
      break;
    case kDayOfMonth:
      v = now.tm_mday;
      break;
    case kMonth:
      v = now.tm_mon + 1;
      break;
    case kYear:
      v = now.tm_year % 100;
      break;
    case kCentury:
      v = (now.tm_year + 1900) / 100;
      break;
    default:  // alarm registers
      return 0;
  }
  uint8_t out = (status_b_ & kBinary) ? static_cast<uint8_t>(v) : toBcd(v);
  return pm ? static_cast<uint8_t>(out | 0x80) : out;
}

}  // namespace vmm
