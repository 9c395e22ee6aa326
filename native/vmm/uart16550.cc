#include "vmm/uart16550.h"

namespace vmm {

namespace {
constexpr uint8_t kIerReceive = 0x01, kIerTransmit = 0x02, kIerLineStatus = 0x04;
constexpr uint8_t kIirNone = 0x01, kIirTransmit = 0x02, kIirReceive = 0x04, kIirLineStatus = 0x06,
                  kIirFifos = 0xc0;
constexpr uint8_t kLsrData = 0x01, kLsrOverrun = 0x02, kLsrTransmitterEmpty = 0x60;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kMcrOut2 = 0x08, kMcrLoop = 0x10;
constexpr uint8_t kMsrConnected = 0xb0;  // DCD | DSR | CTS
constexpr uint8_t kFcrEnable = 0x01, kFcrClearReceive = 0x02;
}  // namespace

void Uart16550::out(uint16_t offset, uint8_t value) {
  std::lock_guard<std::mutex> lock(mutex_);
  const bool dlab = (lcr_ & kLcrDlab) != 0;
  switch (offset) {
    case 0:
      if (dlab) {
        dll_ = value;
        break;
      }
      if (mcr_ & kMcrLoop) {
        if (input_.size() < kInputLimit) input_.push_back(value);
      } else {
        transmit_(value);
      }
      thre_pending_ = true;  // sent at once: the holding register is empty again
      break;
    case 1:
      if (dlab) {
        dlm_ = value;
        break;
      }
      // Enabling the transmit interrupt while the transmitter is empty raises it.
      if ((value & kIerTransmit) && !(ier_ & kIerTransmit)) thre_pending_ = true;
      ier_ = value & 0x0f;
      break;
    case 2:
      fcr_ = value & 0xc9;
      if (value & kFcrClearReceive) input_.clear();
      break;
    case 3:
      lcr_ = value;
      break;
    case 4:
      mcr_ = value & 0x1f;
      break;
    case 7:
      scr_ = value;
      break;
    default:  // the status registers ignore writes
      break;
  }
  updateIrq();
}

uint8_t Uart16550::in(uint16_t offset) {
  std::lock_guard<std::mutex> lock(mutex_);
  const bool dlab = (lcr_ & kLcrDlab) != 0;
  uint8_t value = 0;
  switch (offset) {
    case 0:
      if (dlab) {
        value = dll_;
      } else if (!input_.empty()) {
        value = input_.front();
        input_.pop_front();
      }
      break;
    case 1:
      value = dlab ? dlm_ : ier_;
      break;
    case 2:
      value = interruptId();
      if ((value & 0x0f) == kIirTransmit) thre_pending_ = false;  // reading IIR acknowledges it
      if (fcr_ & kFcrEnable) value |= kIirFifos;
      break;
    case 3:
      value = lcr_;
      break;
    case 4:
      value = mcr_;
      break;
    case 5:
      value = kLsrTransmitterEmpty | (input_.empty() ? 0 : kLsrData) | (overrun_ ? kLsrOverrun : 0);
      overrun_ = false;
      break;
    case 6:
      value = (mcr_ & kMcrLoop) ? static_cast<uint8_t>((mcr_ & 0x0f) << 4) : kMsrConnected;
      break;
    default:
      value = scr_;
      break;
  }
  updateIrq();
  return value;
}

void Uart16550::receive(const uint8_t* data, size_t len) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (size_t i = 0; i < len; i++) {
    if (input_.size() >= kInputLimit) {
      overrun_ = true;
      break;
    }
    input_.push_back(data[i]);
  }
  updateIrq();
}

// The highest-priority pending source, as IIR reports it.
uint8_t Uart16550::interruptId() const {
  if ((ier_ & kIerLineStatus) && overrun_) return kIirLineStatus;
  if ((ier_ & kIerReceive) && !input_.empty()) return kIirReceive;
  if ((ier_ & kIerTransmit) && thre_pending_) return kIirTransmit;
  return kIirNone;
}

void Uart16550::updateIrq() {
  // On a PC, OUT2 gates the UART's interrupt onto the ISA line.
  const bool level = (mcr_ & kMcrOut2) && interruptId() != kIirNone;
  if (level != irq_level_) {
    irq_level_ = level;
    set_irq_(level);
  }
}

}  // namespace vmm
